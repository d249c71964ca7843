"""A note worker without the run store: what one replica of a distributed executor runs.

It builds the run's components once (a local model loads once per replica), makes the notes it is sent and
returns each :class:`~dualalign_core.run.store.UnitResult` with the replies it fetched and the calls it paid
for, which the driver, the store's only writer, commits with the unit. Units come in batches and results go
back in batches (:meth:`NoteWorker.process_many`), each with its rows already encoded
(:func:`~dualalign_core.run.store.packed`): the driver's work per note is an insert. A unit arrives with what the driver
knows of it: the usage its stored predecessor recorded and the cached replies it already paid for (so a
unit re-done after a crash reuses them and records their original cost, as a local run does).

Ray-agnostic: :mod:`dualalign_core.run.ray_executor` wraps it in an actor; tests drive it directly.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import attrs

from dualalign_core.config import RunConfig
from dualalign_core.context import RunContext
from dualalign_core.plugins import get_registry
from dualalign_core.run.build import build_components
from dualalign_core.run.executor import WorkUnit
from dualalign_core.run.lifecycle import close_components, open_components
from dualalign_core.run.note import NoteMaker
from dualalign_core.run.store import UnitResult, packed

# Test-only fault hook: "PATH:N" makes the first worker to start its N-th unit create PATH and SIGKILL its own
# process (once per PATH), i.e. a worker lost with units in flight (tests/test_ray_executor.py).
KILL_WORKER_ENV = "DUALALIGN_TEST_KILL_WORKER"


def share(total: int, index: int, workers: int) -> int:
    """Worker ``index``'s part of a run-wide limit split across ``workers`` (at least 1)."""
    return max(1, total // workers + (1 if index < total % workers else 0))


def worker_config(config: RunConfig, index: int, workers: int, concurrency: dict[str, int]) -> RunConfig:
    """The config one of ``workers`` replicas builds: the run's concurrency (``{"generator": C, ...}``, its
    total) and request/token rates split across them, everything else as given."""
    changes: dict[str, Any] = {}
    for role, total in concurrency.items():
        spec = getattr(config, role)
        options = dict(spec.options)
        for rate in ("rpm", "tpm"):
            if rate in options:
                options[rate] = options[rate] / workers
        options.pop("concurrency", None)  # one knob: the split value below
        changes[role] = attrs.evolve(spec, options=options, concurrency=share(total, index, workers))
    return attrs.evolve(config, **changes)


class NoteWorker:
    """Makes notes for one run from its config, without the store; open once, process many, close."""

    def __init__(self, config: RunConfig, run_id: str):
        self.config = config
        self.components = build_components(config, get_registry())
        self.ctx = RunContext(run_id=run_id, seed=config.seed, disease=self.components.disease)
        self.maker = NoteMaker(config, self.components, self.ctx, store=None)
        self.started = 0
        self.opened = False

    async def open(self) -> None:
        if not self.opened:
            await open_components(self.components.all(), self.ctx)
            self.opened = True

    async def process(self, unit: WorkUnit) -> UnitResult:
        """Make one note; the result carries the replies fetched and the calls paid for while making it."""
        await self.open()
        self.started += 1
        _maybe_die(self.started)
        memory, uid = self.ctx.memory, unit.plan.id
        shipped = {key for key, _ in unit.owned_replies}
        for key, value in unit.owned_replies:
            memory.entries[key] = (value, uid)
        try:
            result = await self.maker.process(unit)
        finally:  # the worker keeps nothing of a finished unit: memory stays flat however many it makes
            mine = [(k, v, o) for k, (v, o) in memory.entries.items() if o == uid]
            for key, _, _ in mine:
                del memory.entries[key]
            spend = [(u, k) for u, k, owner in memory.spend if owner == uid]
            memory.spend[:] = [s for s in memory.spend if s[2] != uid]
        replies = tuple((k, v, o) for k, v, o in mine if k not in shipped)
        return packed(attrs.evolve(result, replies=replies, spend=tuple(spend)))  # rows encoded here, not by the driver

    async def process_many(self, units: list[WorkUnit]) -> list[UnitResult | BaseException]:
        """Make a batch of notes concurrently; each one's result, or the run-stopping error (budget, breaker)
        it raised, in the batch's order (the driver commits the results, then stops on the error)."""
        outcomes = await asyncio.gather(*(self.process(u) for u in units), return_exceptions=True)
        return list(outcomes)

    def llm_stats(self) -> dict[str, Any]:
        """This replica's LLM runtime stats by role (the driver adds the replicas up)."""
        from dualalign_core.llm.adapter import stats_by_role

        return stats_by_role(generator=self.components.generator, annotator=self.components.annotator)

    def throughput(self) -> dict[str, Any] | None:
        measure = getattr(getattr(self.components.generator, "backend", None), "throughput", None)
        return measure() if callable(measure) else None

    async def close(self) -> None:
        if self.opened:
            self.opened = False
            await close_components(self.components.all())


def _maybe_die(started: int) -> None:
    spec = os.environ.get(KILL_WORKER_ENV)
    if not spec:
        return
    path, _, n = spec.rpartition(":")
    if started == int(n):
        try:
            Path(path).touch(exist_ok=False)  # the first worker to get here dies; restarts and others go on
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["KILL_WORKER_ENV", "NoteWorker", "share", "worker_config"]

"""Executors run units of work. The local one is asyncio with a bounded window of units in flight.

A unit is a plain serialisable value (:class:`WorkUnit`), so a distributed executor (e.g. on Ray) can ship
units to workers and stream results back through the same ``on_result`` callback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from attrs import frozen

from dualalign_core.history.timeline import NoteMemory
from dualalign_core.records import NotePlan, Persona, Usage
from dualalign_core.run.lifecycle import close_components, open_components
from dualalign_core.run.store import RunStore, UnitResult

if TYPE_CHECKING:
    from dualalign_core.config import RunConfig


@frozen
class WorkUnit:
    """One note to make: its plan, its patient and its position in the run."""

    seq: int
    plan: NotePlan
    persona: Persona
    attempt: int = 0
    prior_rejections: tuple = ()  # (stage, Rejection) of earlier attempts, kept in the ledger
    # for a worker without the store (filled by the driver before shipping): what the stored unit this one
    # replaces recorded, and the cached replies it paid for and has not recorded yet (key, value)
    spent: Usage | None = None
    owned_replies: tuple[tuple[str, dict], ...] = ()
    # with memory = "notes": the summary of the patient's earlier accepted notes, computed by the driver from
    # the store (a worker has none); None: the note remembers only the planned timeline
    memory: NoteMemory | None = None


class Executor(Protocol):
    async def run(
        self,
        units: Iterable[WorkUnit],
        work: Callable[[WorkUnit], Awaitable[UnitResult]],
        on_results: Callable[[list[UnitResult]], None],
        should_stop: Callable[[], bool],
    ) -> None:
        """Run ``work`` on every unit; hand finished results to ``on_results`` in batches (group commit)."""

    def describe(self) -> dict[str, Any]:
        """How notes were made (name, and what a distributed executor started), for the manifest."""


class LocalExecutor:
    """Runs units on this event loop, at most ``max_in_flight`` at a time, streaming the input."""

    def __init__(self, max_in_flight: int = 8):
        self.max_in_flight = max(1, max_in_flight)

    def describe(self) -> dict[str, Any]:
        """How notes were made, for the manifest."""
        return {"name": "local", "max_in_flight": self.max_in_flight}

    async def run(
        self,
        units: Iterable[WorkUnit],
        work: Callable[[WorkUnit], Awaitable[UnitResult]],
        on_results: Callable[[list[UnitResult]], None],
        should_stop: Callable[[], bool],
    ) -> None:
        pending: set[asyncio.Task[UnitResult]] = set()
        source = iter(units)
        exhausted = False
        failure: BaseException | None = None
        while True:
            while failure is None and not exhausted and len(pending) < self.max_in_flight and not should_stop():
                unit = next(source, None)
                if unit is None:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(work(unit)))
            if not pending:
                if failure is not None:
                    raise failure
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ok = [t.result() for t in done if t.exception() is None]
            failure = failure or next((t.exception() for t in done if t.exception() is not None), None)
            if ok:  # a run-stopping error (budget, breaker) still lets finished units commit
                on_results(sorted(ok, key=lambda r: r.seq))


def executor_for(config: RunConfig, run_id: str, store: RunStore, components: Any) -> Executor:
    """The executor the config names (``run.executor``), sized by the run's concurrency: at most twice the
    larger of the generator's and the annotator's in flight."""
    gen, ann = components.generator, components.annotator
    window = 2 * max(gen.concurrency, ann.concurrency)
    if config.executor.name == "ray":
        from dualalign_core.run.ray_executor import RayExecutor

        resources = getattr(getattr(gen, "backend", gen), "resources", None)  # e.g. a local model on a GPU
        return RayExecutor(
            config,
            run_id,
            store,
            concurrency={"generator": gen.concurrency, "annotator": ann.concurrency},
            max_in_flight=window,
            gpus_per_worker=float(resources().get("num_gpus", 0)) if callable(resources) else 0.0,
        )
    return LocalExecutor(max_in_flight=window)


async def open_run(executor: Any, components: Any, ctx: Any) -> None:
    """Open the components this process uses (:func:`driver_side`)."""
    await open_components(driver_side(components, executor), ctx)


async def close_run(executor: Any, components: Any) -> None:
    """Release the executor's workers, if it has any (each closes its own components), then close what
    :func:`open_run` opened; both happen even when the first fails."""
    try:
        closer = getattr(executor, "aclose", None)
        if callable(closer):
            await closer()
    finally:
        await close_components(driver_side(components, executor))


def driver_side(components: Any, executor: Any) -> list[Any]:
    """The components the driver opens: all, or, when the executor's workers make the notes, all but the
    generator and the annotator (a local model is not loaded where it is not used)."""
    c = components
    return [x for x in c.all() if not (getattr(executor, "remote", False) and x in (c.generator, c.annotator))]

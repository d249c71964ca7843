"""Executors run units of work. The local one is asyncio with a bounded window of units in flight.

A unit is a plain serialisable value (:class:`WorkUnit`), so a distributed executor (e.g. on Ray) can ship
units to workers and stream results back through the same ``on_result`` callback.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from attrs import frozen

from dualalign_core.history.timeline import NoteMemory
from dualalign_core.records import NotePlan, Persona, Usage
from dualalign_core.run.lifecycle import close_components, open_components
from dualalign_core.run.store import StoredPlan, UnitResult

if TYPE_CHECKING:
    pass


@frozen
class WorkUnit:
    """One note to make: its plan (as stored, decoded where the note is made: :meth:`decoded`), its patient
    and its position in the run."""

    seq: int
    plan: NotePlan | StoredPlan
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

    def decoded(self) -> WorkUnit:
        """The unit with its plan decoded (itself if it is)."""
        return self if isinstance(self.plan, NotePlan) else attrs.evolve(self, plan=self.note_plan())

    def note_plan(self) -> NotePlan:
        """The unit's plan, decoded."""
        return self.plan if isinstance(self.plan, NotePlan) else self.plan.decode()


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
        await run_window(units, work, on_results, should_stop, self.max_in_flight)


async def run_window(
    units: Iterable[WorkUnit],
    work: Callable[[Any], Awaitable[Any]],
    on_results: Callable[[list[UnitResult]], None],
    should_stop: Callable[[], bool],
    window: int,
    *,
    take: int | None = None,
) -> None:
    """Run ``work`` with at most ``window`` units in flight, streaming the input; everything finished since the
    last commit is handed to ``on_results`` at once, in plan order (one transaction: group commit). Finished
    tasks are collected by callbacks, so the cost per unit does not grow with the window. ``work`` gets one unit
    and returns its result or, with ``take``, a list of up to ``take`` units (a batch for a remote worker) and
    returns a list of results and errors. A run-stopping error (budget, breaker) still lets finished units commit, then
    propagates."""
    done: list[asyncio.Future[Any]] = []
    wake = asyncio.Event()
    source = iter(units)
    in_flight = 0
    sizes: dict[asyncio.Future[Any], int] = {}  # task -> units it makes
    exhausted = False
    failure: BaseException | None = None

    def finished(task: asyncio.Future[Any]) -> None:
        done.append(task)
        wake.set()

    while True:
        while failure is None and not exhausted and in_flight < window and not should_stop():
            want = min(take or 1, window - in_flight)
            batch = list(itertools.islice(source, want))
            if len(batch) < want:
                exhausted = True
            if not batch:
                break
            task: asyncio.Future[Any] = asyncio.ensure_future(work(batch) if take else work(batch[0]))
            task.add_done_callback(finished)
            sizes[task] = len(batch)
            in_flight += len(batch)
        if not sizes:
            if failure is not None:
                raise failure
            return
        await wake.wait()
        wake.clear()
        ready, done[:] = list(done), []
        ok: list[UnitResult] = []
        for task in ready:
            in_flight -= sizes.pop(task)
            if task.exception() is not None:
                failure = failure or task.exception()
                continue
            got = task.result()
            for result in got if isinstance(got, list) else [got]:
                if isinstance(result, BaseException):
                    failure = failure or result
                else:
                    ok.append(result)
        if ok:
            on_results(sorted(ok, key=lambda r: r.seq))


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

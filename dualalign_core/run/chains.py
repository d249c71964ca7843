"""The note phase's scheduling: independent units (``memory = "timeline"``), or per-patient chains
(``[generator] memory = "notes"``): each note written after the patient's previous one is finished,
conditioned on a summary of the patient's earlier accepted notes; concurrency comes from many patients at once.

The driver computes each unit's memory (:attr:`~dualalign_core.run.executor.WorkUnit.memory`) from what the
store holds for the patient (read when its chain starts, then extended by the units it commits), and hands
units to the executor unchanged: local, Ray and shards (a shard is a selection of patients) all schedule
chains. A note that ends ``failed`` blocks its chain for this invocation (``--resume`` retries it), so every
note is conditioned on exactly what an uninterrupted run would give it, whatever the order of execution.

Two chain schedulers: :meth:`NoteScheduler.stream` (the default) releases a patient's next note the moment
its predecessor commits, with up to the executor's window of patients in flight; :meth:`NoteScheduler.waves`
sends, in rounds, the first unfinished note of every patient not blocked (a simpler reference, measured
against the other in ``benchmarks/memory_chains.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

import attrs

from dualalign_core.components import NoteBundle
from dualalign_core.history.memory import Summariser
from dualalign_core.history.timeline import NoteMemory
from dualalign_core.records import NotePlan, Persona
from dualalign_core.run.executor import Executor, LocalExecutor, WorkUnit
from dualalign_core.run.store import RunStore, UnitResult, unit_records
from dualalign_core.run.view import patient_history

if TYPE_CHECKING:
    from dualalign_core.config import RunConfig

Work = Callable[[WorkUnit], Awaitable[UnitResult]]
OnResults = Callable[[list[UnitResult]], None]
FINISHED = ("accepted", "rejected")
SCHEDULERS = ("stream", "waves")


class Chain:
    """One patient's notes: its plans, the accepted notes so far (as the store holds them) and where it is."""

    def __init__(self, store: RunStore, persona: Persona, finished: set[str]):
        self.persona = persona
        self.plans = store.plans_of(persona.id)
        self.todo = [(seq, p) for seq, p in self.plans if p.id not in finished]
        by_id = {p.id: p for _, p in self.plans}
        self.history = patient_history(store, persona, by_id) if self.todo else []

    def next_unit(self, summarise: Summariser) -> WorkUnit | None:
        """The first unfinished note with its memory of the accepted notes before it; None when done."""
        if not self.todo:
            return None
        seq, plan = self.todo[0]
        earlier = [b for b in self.history if b.plan.index < plan.index]
        return WorkUnit(seq, plan, self.persona, memory=summarise(plan, earlier))

    def advance(self, result: UnitResult | None) -> bool:
        """Record the outcome of the first unfinished note; False if the chain is blocked (failed, or never run:
        the run stopped)."""
        if result is None or result.status not in FINISHED:
            return False
        _, plan = self.todo.pop(0)
        note, sentences, labels = unit_records(result)  # what the commit wrote for it
        if result.status == "accepted" and note is not None:
            self.history.append(NoteBundle(self.persona, plan, note, sentences, labels))
        return True


class NoteScheduler:
    """Hands the note phase's units to ``executor``: independent units (no ``summarise``: ``memory =
    "timeline"``), or each patient's chain with its memory; ``finished`` notes are done."""

    scheduler = "stream"  # or "waves" (the reference, for benchmarks/memory_chains.py)

    def __init__(
        self,
        executor: Executor,
        store: RunStore,
        personas: dict[str, Persona],
        finished: set[str],
        summarise: Summariser | None,
    ):
        self.executor, self.store, self.summarise = executor, store, summarise
        self.personas, self.finished = personas, finished
        self.stopping = False

    async def run(
        self, mine: Collection[str] | None, work: Work, on_results: OnResults, should_stop: Callable[[], bool]
    ) -> None:
        """Make every unfinished note of the patients in ``mine`` (None: every patient)."""
        if self.summarise is None:  # streamed from the store: the driver's memory does not grow with the cohort
            units = (  # plans as stored: decoded where each note is made (a replica, or the note maker)
                WorkUnit(seq, plan, self.personas[plan.persona_id]) for seq, plan in self.store.iter_stored_plans(mine)
            )
            return await self.executor.run(units, work, on_results, should_stop)
        patients = [p for pid, p in self.personas.items() if mine is None or pid in mine]
        schedule = self.waves if self.scheduler == "waves" else self.stream
        await schedule(patients, self.summarise, work, on_results, should_stop)

    async def refill(
        self, units: list[WorkUnit], work: Work, on_results: OnResults, should_stop: Callable[[], bool]
    ) -> None:
        """Make notes again (cohort refills), each remembering the patient's accepted notes before it as
        stored now (with ``memory = "notes"``; the later notes keep what they were given)."""
        if self.summarise is not None:
            units = [attrs.evolve(u, memory=self.memory_before(u.note_plan(), self.summarise)) for u in units]
        await self.executor.run(units, work, on_results, should_stop)

    def memory_before(self, plan: NotePlan, summarise: Summariser) -> NoteMemory:
        """The summary of the patient's accepted notes before ``plan``, as the store holds them now."""
        persona = self.personas[plan.persona_id]
        plans = {p.id: p for _, p in self.store.plans_of(persona.id)}
        earlier = [b for b in patient_history(self.store, persona, plans) if b.plan.index < plan.index]
        return summarise(plan, earlier)

    async def _one(
        self, unit: WorkUnit, work: Work, on_results: OnResults, should_stop: Callable[[], bool]
    ) -> UnitResult | None:
        """Run one unit through the executor; its result (None if it never ran)."""
        results = await self._many([unit], work, on_results, should_stop)
        return results.get(unit.plan.id)

    async def _many(
        self, units: list[WorkUnit], work: Work, on_results: OnResults, should_stop: Callable[[], bool]
    ) -> dict[str, UnitResult]:
        seen: dict[str, UnitResult] = {}

        def record(results: list[UnitResult]) -> None:
            on_results(results)  # committed: the store now holds them
            seen.update((r.plan_id, r) for r in results)

        await self.executor.run(units, work, record, should_stop)
        return seen

    async def stream(
        self,
        patients: list[Persona],
        summarise: Summariser,
        work: Work,
        on_results: OnResults,
        should_stop: Callable[[], bool],
    ) -> None:
        """Each patient's next note released as its predecessor commits; up to the executor's window of
        patients in flight, one note each."""
        await self.executor.run((), work, on_results, should_stop)  # start the executor (Ray: its replicas)
        queue = iter(patients)

        async def lane() -> None:
            for persona in queue:
                chain = Chain(self.store, persona, self.finished)
                while not self.stopping and not should_stop():
                    unit = chain.next_unit(summarise)
                    if unit is None:
                        break
                    try:
                        result = await self._one(unit, work, on_results, should_stop)
                    except BaseException:
                        self.stopping = True  # the others finish the note they are making, then stop
                        raise
                    if not chain.advance(result):
                        break
                if self.stopping or should_stop():
                    return

        window = max(1, int(getattr(self.executor, "max_in_flight", 8)))
        outcomes = await asyncio.gather(*(lane() for _ in range(window)), return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure

    async def waves(
        self,
        patients: list[Persona],
        summarise: Summariser,
        work: Work,
        on_results: OnResults,
        should_stop: Callable[[], bool],
    ) -> None:
        """Rounds: the first unfinished note of every patient whose chain is not blocked, all at once."""
        chains = [c for c in (Chain(self.store, p, self.finished) for p in patients) if c.todo]
        while chains and not should_stop():
            units = {id(c): u for c in chains if (u := c.next_unit(summarise)) is not None}
            if not units:
                return
            results = await self._many(list(units.values()), work, on_results, should_stop)
            chains = [c for c in chains if id(c) in units and c.advance(results.get(units[id(c)].plan.id)) and c.todo]


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


__all__ = ["SCHEDULERS", "Chain", "NoteScheduler", "executor_for"]

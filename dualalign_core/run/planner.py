"""The plan phase into the store, one patient at a time: planning holds a batch of patients' plans, never the
cohort (:func:`~dualalign_core.run.plan.stream_cohort`), and the fidelity table is measured from the same
stream in one pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dualalign_core.history.timeline import Timeline
from dualalign_core.records import NotePlan, Persona
from dualalign_core.run.plan import CohortStream
from dualalign_core.run.store import RunStore

PLAN_BATCH = 2000  # plans a transaction while planning

Fidelity = Callable[[Sequence[Persona], Iterator[NotePlan]], dict[str, Any]]


def store_cohort(
    store: RunStore, cohort: CohortStream, meta: dict[str, Any], fidelity: Fidelity | None, batch: int = PLAN_BATCH
) -> None:
    """Store the cohort as it is planned, ``batch`` plans a transaction (a partial plan phase left by a killed
    process is dropped first); then ``meta`` (and ``fidelity``, measured over the same stream) and the mark
    that the plan phase is done."""
    store.clear_plans()

    def planned() -> Iterator[NotePlan]:
        personas: list[Persona] = []
        plans: list[NotePlan] = []
        timelines: list[Timeline] = []
        for patient in cohort.patients:
            personas.append(patient.persona)
            plans.extend(patient.plans)
            timelines.extend([patient.timeline] if patient.timeline is not None else [])
            yield from patient.plans
            if len(plans) >= batch:
                store.append_plans(personas, plans, timelines)
                personas, plans, timelines = [], [], []
        store.append_plans(personas, plans, timelines)

    stream = planned()
    if fidelity is not None:
        meta = meta | {"fidelity": fidelity(cohort.personas, stream)}
    for _ in stream:  # whatever the fidelity table did not read
        pass
    store.finish_plans(meta)


__all__ = ["PLAN_BATCH", "store_cohort"]

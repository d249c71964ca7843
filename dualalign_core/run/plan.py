"""The plan phase, pure: the cohort's personas and every note plan, from the config's seed. No store, no LLM.

The run, ``dualalign plan``, ``dualalign estimate`` and the ablation all plan through :func:`plan_cohort`,
so they see the same plans for the same config and seed.
"""

from __future__ import annotations

from collections.abc import Iterator

from attrs import frozen

from dualalign_core.config import RunConfig
from dualalign_core.context import RunContext
from dualalign_core.history.state import with_contexts
from dualalign_core.history.timeline import Timeline
from dualalign_core.plugins import plugin_call
from dualalign_core.records import NotePlan, Persona
from dualalign_core.run.build import Components, resolved_pipeline
from dualalign_core.run.resume import run_id_for
from dualalign_core.seeds import derive_seed


@frozen
class Cohort:
    """A planned cohort: its patients, every note plan (each with its timeline context) and each patient's
    timeline (none for a pack without a history table)."""

    personas: list[Persona]
    plans: list[NotePlan]
    timelines: list[Timeline]


@frozen
class PatientPlan:
    """One patient's part of the cohort: the note plans (with their contexts) and the timeline (if any)."""

    persona: Persona
    plans: list[NotePlan]
    timeline: Timeline | None


@frozen
class CohortStream:
    """The cohort's patients (sampled at once: they are small) and their plans, planned one patient at a time
    as :attr:`patients` is read (once), so a caller that stores each patient holds one patient's plans."""

    personas: list[Persona]
    patients: Iterator[PatientPlan]


def plan_cohort(config: RunConfig, components: Components, ctx: RunContext | None = None) -> Cohort:
    """Personas, note plans and timelines for the whole cohort; ``ctx`` gives the run id records carry (default:
    the config's run id). :func:`stream_cohort` plans the same cohort one patient at a time."""
    stream = stream_cohort(config, components, ctx)
    plans: list[NotePlan] = []
    timelines: list[Timeline] = []
    for patient in stream.patients:
        plans.extend(patient.plans)
        if patient.timeline is not None:
            timelines.append(patient.timeline)
    return Cohort(stream.personas, plans, timelines)


def stream_cohort(config: RunConfig, components: Components, ctx: RunContext | None = None) -> CohortStream:
    """The cohort of :func:`plan_cohort`, its patients planned lazily in cohort order (bounded memory)."""
    c = components
    ctx = ctx or RunContext(run_id=run_id_for(config, resolved_pipeline(c)), seed=config.seed, disease=c.disease)
    with plugin_call(c.personas, "sample", "persona_source"):
        personas = c.personas.sample(c.disease, config.patients, derive_seed(config.seed, "personas"), ctx)
    return CohortStream(personas, (plan_patient(config, c, ctx, p) for p in personas))


def plan_patient(config: RunConfig, c: Components, ctx: RunContext, persona: Persona) -> PatientPlan:
    """One patient's plans and timeline (pure: seeded by the run seed and the patient's id)."""
    with plugin_call(c.sampler, "plan", "trajectory_sampler"):
        history = c.sampler.plan(persona, c.disease, derive_seed(config.seed, "plan", persona.id), ctx)
    if config.max_notes_per_patient:
        history = history[-config.max_notes_per_patient :]
    with plugin_call(c.sampler, "timeline", "trajectory_sampler"):
        timeline = c.sampler.timeline(
            persona, history, c.disease, derive_seed(config.seed, "timeline", persona.id), ctx
        )
    if timeline is not None:
        history = with_contexts(timeline, history)
    return PatientPlan(persona, list(history), timeline)


__all__ = ["Cohort", "CohortStream", "PatientPlan", "plan_cohort", "plan_patient", "stream_cohort"]

"""What each note sees of its patient's timeline: the state at its date and what happened since the previous
note (:class:`~dualalign_core.history.timeline.NoteContext`), attached to the note plans."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from dualalign_core.history.timeline import Medication, MedicationState, NoteContext, Timeline
from dualalign_core.records import NotePlan

FIRST_NOTE_LOOKBACK = 0.5
"""Years before a patient's first note whose events and medication changes it reports as recent."""


def _state(m: Medication, t: float, since: float) -> MedicationState:
    change = reason = None
    if since >= m.start >= t:
        change, reason = "started", None
    else:
        changed = [d for d in m.doses[1:] if since >= d.years_before_diagnosis >= t]
        if changed:
            change, reason = f"dose {changed[-1].reason}", None
    return MedicationState(m.drug, m.drug_class, m.dose_at(t), m.indication, change, reason)


def note_context(timeline: Timeline, plan: NotePlan, previous: NotePlan | None) -> NoteContext:
    """The context of ``plan``, given the patient's previous note (``None``: the first)."""
    t = plan.years_before_diagnosis
    since = previous.years_before_diagnosis if previous is not None else t + FIRST_NOTE_LOOKBACK
    authors = dict(timeline.note_authors)
    clinician = next((c for c in timeline.clinicians if c.id == authors.get(plan.id)), None)
    active = [m for m in timeline.medications if m.active_at(t)]
    stopped = [m for m in timeline.medications if m.stop is not None and since >= m.stop >= t]
    active_drugs = {m.drug for m in active}
    former = sorted({m.drug for m in timeline.medications if m.stop is not None and m.stop >= t} - active_drugs)
    earlier_scores: dict[str, object] = {}
    for m in timeline.measurements:
        if m.kind == "score" and m.years_before_diagnosis > t:
            earlier_scores[m.id] = m  # measurements are in note order: the last one wins
    return NoteContext(
        since_years=previous.years_before_diagnosis if previous is not None else None,
        clinician=clinician,
        medications=tuple(_state(m, t, since) for m in active),
        stopped=tuple(
            MedicationState(m.drug, m.drug_class, m.dose_at(m.stop or t), m.indication, "stopped", m.stop_reason)
            for m in stopped
        ),
        former=tuple(d for d in former if d not in {m.drug for m in stopped}),
        measurements=tuple(m for m in timeline.measurements if m.note_id == plan.id),
        previous_scores=tuple(earlier_scores[k] for k in sorted(earlier_scores)),  # type: ignore[misc]
        social=tuple(timeline.social_at(t)[d] for d in sorted(timeline.social_at(t))),
        events=tuple(e for e in timeline.events if since >= e.years_before_diagnosis > t),
    )


def with_contexts(timeline: Timeline, plans: Sequence[NotePlan]) -> list[NotePlan]:
    """``plans`` (one patient's, oldest first) each carrying its context."""
    out, previous = [], None
    for plan in plans:
        out.append(attrs.evolve(plan, context=note_context(timeline, plan, previous)))
        previous = plan
    return out


__all__ = ["FIRST_NOTE_LOOKBACK", "note_context", "with_contexts"]

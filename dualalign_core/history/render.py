"""The timeline in words: the prompt fields a note's :class:`~dualalign_core.history.timeline.NoteContext` and
memory give every pack's prompt (``{medications}``, ``{scores}``, ``{vitals}``, ``{social}``,
``{recent_events}``, ``{clinician}``, ``{history_summary}``, ``{previous_notes}``)."""

from __future__ import annotations

from collections.abc import Iterable

from dualalign_core.history.timeline import Event, Measurement, MedicationState, NoteContext, NoteMemory

HISTORY_FIELDS = frozenset(
    {
        "medications",
        "scores",
        "vitals",
        "social",
        "recent_events",
        "clinician",
        "history_summary",
        "previous_notes",
    }
)
"""Prompt fields every pack may use; each renders as a short phrase (or says there is nothing to say)."""

NO_TIMELINE = "not recorded"


def ago(years: float) -> str:
    """A time span as a note says it: ``3 weeks``, ``4 months``, ``2 years``."""
    months = years * 12
    if months < 1.5:
        weeks = max(1, round(years * 52))
        return "1 week" if weeks == 1 else f"{weeks} weeks"
    if months < 23.5:
        return f"{round(months)} months"
    return f"{round(years)} years"


def medication_text(m: MedicationState) -> str:
    return f"{m.drug} {m.dose}".strip()


def medications_field(ctx: NoteContext) -> str:
    """Active medications with doses, and what changed since the previous note."""
    active = "; ".join(f"{medication_text(m)} (for {m.indication.replace('_', ' ')})" for m in ctx.medications)
    lines = [f"Active: {active}." if active else "Active: none."]
    changes = [f"{m.drug} {m.change}" + (f" ({m.reason})" if m.reason else "") for m in ctx.medications if m.change]
    changes += [f"{m.drug} stopped" + (f" ({m.reason})" if m.reason else "") for m in ctx.stopped]
    if changes:
        lines.append("Changed since the last note: " + "; ".join(changes) + ".")
    if ctx.former:
        lines.append("No longer taking: " + ", ".join(ctx.former) + ".")
    return " ".join(lines)


def _measures(items: Iterable[Measurement]) -> str:
    return ", ".join(m.text() for m in items)


def scores_field(ctx: NoteContext) -> str:
    """Scores given at this visit (with the previous result), or that none were given."""
    today = ctx.scores()
    previous = {m.id: m for m in ctx.previous_scores}
    if not today:
        last = _measures(ctx.previous_scores)
        return f"No test at this visit (last: {last})." if last else "No test at this visit."
    parts = []
    for m in today:
        before = previous.get(m.id)
        parts.append(m.text() + (f" (previously {before.value:g})" if before is not None else " (first test)"))
    return "Administered today: " + ", ".join(parts) + "."


def vitals_text(vitals: Iterable[Measurement]) -> str:
    """Vitals as a chart line: ``BP 128/74, HR 70 bpm, Weight 162 lb`` (systolic and diastolic paired)."""
    by_id = {m.id: m for m in vitals}
    parts = []
    if "sbp" in by_id and "dbp" in by_id:
        parts.append(f"BP {by_id.pop('sbp').value:g}/{by_id.pop('dbp').value:g}")
    parts += [m.text() for m in by_id.values()]
    return ", ".join(parts)


def vitals_field(ctx: NoteContext) -> str:
    return (vitals_text(ctx.vitals()) or "not taken") + "."


def social_field(ctx: NoteContext) -> str:
    return "; ".join(s.text for s in ctx.social) + "." if ctx.social else NO_TIMELINE + "."


def event_text(e: Event, note_time: float) -> str:
    return f"{e.detail} ({ago(e.years_before_diagnosis - note_time)} ago)"


def recent_events_field(ctx: NoteContext, note_time: float) -> str:
    if not ctx.events:
        return "None since the last note." if ctx.since_years is not None else "None recorded."
    return "; ".join(event_text(e, note_time) for e in ctx.events) + "."


def clinician_field(ctx: NoteContext) -> str:
    c = ctx.clinician
    if c is None:
        return "a clinician"
    style = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in c.style)
    return f"the patient's {c.role}" + (f" (writing style: {style})" if style else "")


def history_summary_field(ctx: NoteContext, note_time: float) -> str:
    """One paragraph: when the previous note was, medications, last scores, social state, recent events."""
    parts = []
    if ctx.since_years is None:
        parts.append("First note in this record.")
    else:
        parts.append(f"Previous note {ago(ctx.since_years - note_time)} ago.")
    parts.append(medications_field(ctx))
    parts.append(scores_field(ctx))
    parts.append("Social: " + social_field(ctx))
    parts.append("Since the last note: " + recent_events_field(ctx, note_time))
    return " ".join(parts)


def previous_notes_field(memory: NoteMemory | None) -> str:
    if memory is None:
        return "(not provided)"
    return memory.text or "(none: this is the patient's first note)"


def history_fields(context: NoteContext | None, memory: NoteMemory | None, note_time: float) -> dict[str, str]:
    """Every :data:`HISTORY_FIELDS` value for one note (``not recorded`` where the plan has no timeline)."""
    if context is None:
        fields = dict.fromkeys(HISTORY_FIELDS, NO_TIMELINE)
    else:
        fields = {
            "medications": medications_field(context),
            "scores": scores_field(context),
            "vitals": vitals_field(context),
            "social": social_field(context),
            "recent_events": recent_events_field(context, note_time),
            "clinician": clinician_field(context),
            "history_summary": history_summary_field(context, note_time),
        }
    fields["previous_notes"] = previous_notes_field(memory)
    return fields


__all__ = ["HISTORY_FIELDS", "ago", "history_fields"]

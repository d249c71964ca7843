"""A patient's timeline, planned before any note: medications, measurements, social state, events, clinicians.

Times are years before diagnosis (larger is earlier), as in :class:`~dualalign_core.records.NotePlan`. A note
sees the timeline through its :class:`NoteContext`: the state at its date and what happened since the patient's
previous note. Every record is a frozen attrs value, serialisable with :mod:`dualalign_core.records`.
"""

from __future__ import annotations

from attrs import field, frozen

from dualalign_core.values import Provenance, as_tuple


@frozen
class DoseChange:
    """A medication's dose from a date on, and why it changed."""

    years_before_diagnosis: float
    dose: str
    reason: str


@frozen
class Medication:
    """One course of a drug: started for an indication, dose changes, maybe stopped with a reason."""

    id: str  # unique within the timeline: "<drug>-<n>"
    drug: str  # as written in a note ("sertraline")
    drug_class: str
    indication: str  # a risk factor or problem id
    start: float  # years before diagnosis (may precede the first note: a long-standing prescription)
    doses: tuple[DoseChange, ...] = field(converter=as_tuple)  # the first is the starting dose
    stop: float | None = None
    stop_reason: str | None = None

    def active_at(self, t: float) -> bool:
        return self.start >= t and (self.stop is None or self.stop < t)

    def dose_at(self, t: float) -> str:
        current = self.doses[0].dose
        for change in self.doses:
            if change.years_before_diagnosis >= t:
                current = change.dose
        return current


@frozen
class Measurement:
    """A vital sign or a disease score taken at a note (``note_id``) or on its own."""

    id: str  # "sbp", "moca"...
    title: str
    kind: str  # "vital" | "score"
    years_before_diagnosis: float
    value: float
    unit: str = ""
    maximum: float | None = None  # scores: the scale's maximum ("24/30")
    note_id: str | None = None

    def text(self) -> str:
        """The value as a note writes it: ``MoCA 24/30``, ``BP 138`` (ints without decimals)."""
        value = f"{self.value:g}"
        if self.maximum is not None:
            return f"{self.title} {value}/{self.maximum:g}"
        return f"{self.title} {value}{(' ' + self.unit) if self.unit else ''}"


@frozen
class SocialChange:
    """From ``years_before_diagnosis`` on, dimension ``dimension`` (living, caregiver, driving...) is ``state``."""

    dimension: str
    state: str
    years_before_diagnosis: float
    text: str  # how a note says it ("lives with her husband")


@frozen
class Event:
    """A dated clinical event: a fall, an ED visit, a hospitalisation, a new diagnosis."""

    kind: str
    title: str
    years_before_diagnosis: float
    detail: str  # how a note says it ("fall at home without injury")
    label: str | None = None  # the pack's label for a sentence reporting it (a fall is a symptom), if any


@frozen
class Clinician:
    """A recurring author: a role (never a name) and a writing style (pack-declared dimensions)."""

    id: str
    role: str  # "primary care physician"
    note_types: tuple[str, ...] = field(converter=as_tuple)
    style: tuple[tuple[str, str], ...] = field(converter=as_tuple, factory=tuple)  # (dimension, value), sorted

    def style_of(self, dimension: str, default: str = "") -> str:
        return dict(self.style).get(dimension, default)


@frozen
class Timeline:
    """One patient's planned history."""

    persona_id: str
    medications: tuple[Medication, ...] = field(converter=as_tuple, factory=tuple)
    measurements: tuple[Measurement, ...] = field(converter=as_tuple, factory=tuple)
    social: tuple[SocialChange, ...] = field(converter=as_tuple, factory=tuple)
    events: tuple[Event, ...] = field(converter=as_tuple, factory=tuple)
    clinicians: tuple[Clinician, ...] = field(converter=as_tuple, factory=tuple)
    note_authors: tuple[tuple[str, str], ...] = field(converter=as_tuple, factory=tuple)  # (plan id, clinician id)
    provenance: Provenance | None = None

    def social_at(self, t: float) -> dict[str, SocialChange]:
        """Each dimension's state at ``t`` (its latest change at or before then)."""
        state: dict[str, SocialChange] = {}
        for change in sorted(self.social, key=lambda c: -c.years_before_diagnosis):
            if change.years_before_diagnosis >= t:
                state[change.dimension] = change
        return state


@frozen
class MedicationState:
    """A medication as a note at one date sees it."""

    drug: str
    drug_class: str
    dose: str
    indication: str
    change: str | None = None  # since the previous note: "started", "dose changed", "stopped"
    reason: str | None = None


@frozen
class NoteContext:
    """What a note knows of the timeline: the state at its date, what happened since the previous note, its
    author. Attached to the note's :class:`~dualalign_core.records.NotePlan` at planning time."""

    since_years: float | None  # the patient's previous note's time (None: the first note)
    clinician: Clinician | None = None
    medications: tuple[MedicationState, ...] = field(converter=as_tuple, factory=tuple)  # active at the date
    stopped: tuple[MedicationState, ...] = field(converter=as_tuple, factory=tuple)  # stopped since the previous note
    former: tuple[str, ...] = field(converter=as_tuple, factory=tuple)  # drugs the patient no longer takes
    measurements: tuple[Measurement, ...] = field(converter=as_tuple, factory=tuple)  # taken at this note
    previous_scores: tuple[Measurement, ...] = field(converter=as_tuple, factory=tuple)  # the last before it
    social: tuple[SocialChange, ...] = field(converter=as_tuple, factory=tuple)  # each dimension's state
    events: tuple[Event, ...] = field(converter=as_tuple, factory=tuple)  # since the previous note

    def scores(self) -> tuple[Measurement, ...]:
        return tuple(m for m in self.measurements if m.kind == "score")

    def vitals(self) -> tuple[Measurement, ...]:
        return tuple(m for m in self.measurements if m.kind == "vital")


@frozen
class NoteMemory:
    """What a note was conditioned on from the patient's earlier generated notes (``memory = "notes"``)."""

    note_ids: tuple[str, ...] = field(converter=as_tuple)
    text: str
    hash: str


__all__ = [
    "Clinician",
    "DoseChange",
    "Event",
    "Measurement",
    "Medication",
    "MedicationState",
    "NoteContext",
    "NoteMemory",
    "SocialChange",
    "Timeline",
]

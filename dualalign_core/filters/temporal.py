"""Temporal coherence: symptoms plausible for the note's stage, and patient histories that do not regress.

Two filters share the lexicon reading:

- ``temporal_coherence`` (stage ``annotated``): a note must not carry an *affirmed* mention whose lexicon
  ``earliest_stage`` is later than the note's planned stage ("wandering" in an early-prodromal note).
  Negated, family, hypothetical, historical and other-cause mentions are not violations.
- ``temporal_regression`` (stage ``cohort``): each patient's accepted notes are ordered in time (most years
  before diagnosis first). A note regresses when (a) its planned stage is earlier than a stage an earlier
  note of the same patient already reached, or (b) it calls *resolved / no longer present* (assertion
  ``historical``; add ``negated`` through ``regress_assertions``) a symptom term that an earlier note
  affirmed, for terms whose label is in ``progressive_labels`` (default: every label). Negation is off by
  default because patients with anosognosia deny symptoms their earlier notes record; a clinician
  writing that a progressive symptom "resolved" is the implausible case. The later note is rejected; the earlier
  one is kept (plan order, as for near-duplicates). Patients are independent: the pipeline streams them one
at a time through :meth:`TemporalRegressionFilter.cohort_checker` (bounded memory).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.components import Filter, NoteBundle, Verdict
from dualalign_core.filters._mentions import bundle_mentions, stage_index
from dualalign_core.text.assertion import CATEGORIES


@frozen
class StageViolation:
    """An affirmed mention whose earliest plausible stage is later than the note's stage."""

    term_id: str
    text: str
    earliest_stage: str
    note_stage: str


class TemporalCoherenceFilter(Filter):
    """Rejects a note with more than ``max_violations`` stage-implausible affirmed mentions."""

    name = "temporal_coherence"
    stage: ClassVar[str] = "annotated"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"max_violations": {"type": "integer", "minimum": 0, "default": 0}},
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.max_violations = int(self.options["max_violations"])

    def violations(self, bundle: NoteBundle, ctx: Any) -> list[StageViolation]:
        disease = ctx.disease
        note_stage = stage_index(disease, bundle.plan.stage)
        if note_stage is None:
            return []
        out = []
        for m in bundle_mentions(bundle, disease):
            earliest = stage_index(disease, m.earliest_stage)
            if m.affirmed and earliest is not None and earliest > note_stage:
                out.append(StageViolation(m.term_id, m.text, m.earliest_stage or "", bundle.plan.stage))
        return out

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        found = self.violations(bundle, ctx)
        if len(found) <= self.max_violations:
            return None
        detail = "; ".join(f"{v.text!r} (earliest {v.earliest_stage})" for v in found[:5])
        return Verdict(
            f"{len(found)} symptom(s) implausible at stage {bundle.plan.stage}: {detail}",
            value=float(len(found)),
            threshold=float(self.max_violations),
        )


class TemporalRegressionFilter(TemporalCoherenceFilter):
    """Rejects later notes of a patient whose history regresses implausibly (stage ``cohort``)."""

    name = "temporal_regression"
    stage: ClassVar[str] = "cohort"
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "progressive_labels": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "default": None,
                "description": "Labels whose mentions must not regress (null: every label).",
            },
            "regress_assertions": {"type": "array", "items": {"enum": list(CATEGORIES)}, "default": ["historical"]},
        },
    }

    def __init__(self, **options: Any) -> None:
        Filter.__init__(self, **options)
        self.progressive_labels: list[str] | None = self.options["progressive_labels"]
        self.regress_assertions = frozenset(self.options["regress_assertions"])

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        return None  # a cohort filter: see check_cohort

    def cohort_checker(self, ctx: Any, note_text: Callable[[str], str] | None = None) -> _Patients:
        """Streaming check: ``add`` each patient's accepted notes (one patient a call, in any order); the
        verdicts depend on that patient's notes only, so nothing is kept between patients."""
        return _Patients(self, ctx)

    def check_cohort(self, bundles: Sequence[NoteBundle], ctx: Any) -> dict[str, Verdict]:
        by_patient: dict[str, list[NoteBundle]] = defaultdict(list)
        for b in bundles:
            by_patient[b.persona.id].append(b)
        checker = self.cohort_checker(ctx)
        out: dict[str, Verdict] = {}
        for notes in by_patient.values():
            out.update(checker.add(notes))
        return out


class _Patients:
    """:class:`TemporalRegressionFilter` one patient at a time."""

    def __init__(self, f: TemporalRegressionFilter, ctx: Any):
        self.f, self.disease = f, ctx.disease
        self.labels = set(f.progressive_labels if f.progressive_labels is not None else self.disease.labels)

    def add(self, bundles: Sequence[NoteBundle]) -> dict[str, Verdict]:
        """Verdicts on one patient's accepted notes, ordered in time (most years before diagnosis first)."""
        disease, regress = self.disease, self.f.regress_assertions
        notes = sorted(bundles, key=lambda b: (-b.plan.years_before_diagnosis, b.plan.index))
        out: dict[str, Verdict] = {}
        max_stage, max_stage_note = -1, ""
        affirmed: dict[str, str] = {}  # term id -> first note affirming it
        for b in notes:
            reasons = []
            idx = stage_index(disease, b.plan.stage)
            if idx is not None and idx < max_stage:
                reasons.append(f"stage {b.plan.stage} after {disease.stages[max_stage]} in note {max_stage_note}")
            mentions = bundle_mentions(b, disease)
            for m in mentions:
                if m.label in self.labels and m.term_id in affirmed and m.assertion.categories & regress:
                    reasons.append(f"{m.text!r} {m.assertion.status} after note {affirmed[m.term_id]} affirmed it")
            if reasons:
                out[b.note.id] = Verdict(
                    "history regresses: " + "; ".join(reasons[:5]), value=float(len(reasons)), threshold=0.0
                )
                continue  # a rejected note does not shape the history
            if idx is not None and idx > max_stage:
                max_stage, max_stage_note = idx, b.note.id
            for m in mentions:
                if m.affirmed:
                    affirmed.setdefault(m.term_id, b.note.id)
        return out

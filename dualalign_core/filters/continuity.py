"""Consistency with the patient's timeline: contradictions of a note's context, and copy-forward.

Both are on by default and **warn-only** unless their options say ``enforce = true``: their verdicts go to the
rejection ledger (``enforced = false``) and reject nothing, so offline runs measure consistency without paying
for regenerations. Plans without a timeline context (a pack without ``history.json``) get no verdict.

- ``consistency`` (stage ``generated``): :func:`~dualalign_core.history.consistency.contradictions` of the
  note against ``plan.context``; reason ``"<kind>: <detail>"`` of the first, value the number found.
- ``copy_forward`` (stage ``cohort``): for consecutive accepted notes of one patient (in time order), the share
  of the later note's word 5-grams the earlier one already has
  (:func:`~dualalign_core.history.similarity.copy_forward`); above ``threshold`` the later note gets a verdict.
  Symptom regression stays the ``temporal_regression`` filter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from dualalign_core.components import Filter, NoteBundle, Verdict
from dualalign_core.history.consistency import KINDS, Contradiction, contradictions
from dualalign_core.history.similarity import SHINGLE, copy_forward

_ENFORCE = {
    "type": "boolean",
    "default": False,
    "description": "Reject on a verdict (false: record it in the ledger as a warning only).",
}

COPY_FORWARD_THRESHOLD = 0.5
"""Default copy-forward threshold (share of a note's 5-grams found in the patient's previous note)."""


class ConsistencyFilter(Filter):
    """Flags a note that contradicts its planned timeline (medication, dose, score, social state)."""

    name = "consistency"
    stage: ClassVar[str] = "generated"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "kinds": {
                "type": "array",
                "items": {"enum": list(KINDS)},
                "uniqueItems": True,
                "default": list(KINDS),
                "description": "Which contradictions to check.",
            },
            "enforce": _ENFORCE,
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.kinds = tuple(self.options["kinds"])
        self.warn_only = not self.options["enforce"]

    def found(self, bundle: NoteBundle, ctx: Any) -> list[Contradiction]:
        return contradictions(bundle.note.text, bundle.plan.context, ctx.disease, self.kinds)

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        found = self.found(bundle, ctx)
        if not found:
            return None
        return Verdict(f"{found[0].kind}: {found[0].detail}", value=float(len(found)), threshold=0.0)


class CopyForwardFilter(Filter):
    """Flags a note that repeats the patient's previous accepted note near-verbatim (stage ``cohort``)."""

    name = "copy_forward"
    stage: ClassVar[str] = "cohort"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "threshold": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 1,
                "default": COPY_FORWARD_THRESHOLD,
                "description": "Share of a note's word 5-grams its predecessor has above which it is flagged.",
            },
            "shingle_size": {"type": "integer", "minimum": 1, "maximum": 10, "default": SHINGLE},
            "enforce": _ENFORCE,
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.threshold = float(self.options["threshold"])
        self.n = int(self.options["shingle_size"])
        self.warn_only = not self.options["enforce"]

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        return None  # a cohort filter: see check_cohort

    def similarities(self, bundles: Sequence[NoteBundle]) -> list[tuple[str, str, float]]:
        """(earlier note id, later note id, copy-forward) for consecutive notes of each patient, in time order."""
        by_patient: dict[str, list[NoteBundle]] = defaultdict(list)
        for b in bundles:
            by_patient[b.persona.id].append(b)
        out = []
        for notes in by_patient.values():
            notes.sort(key=lambda b: (-b.plan.years_before_diagnosis, b.plan.index))
            for prev, cur in zip(notes, notes[1:], strict=False):
                out.append((prev.note.id, cur.note.id, copy_forward(prev.note.text, cur.note.text, self.n)))
        return out

    def check_cohort(self, bundles: Sequence[NoteBundle], ctx: Any) -> dict[str, Verdict]:
        return {
            cur: Verdict(f"copy-forward {value:.2f} of note {prev}", value=round(value, 4), threshold=self.threshold)
            for prev, cur, value in self.similarities(bundles)
            if value > self.threshold
        }


__all__ = ["COPY_FORWARD_THRESHOLD", "ConsistencyFilter", "CopyForwardFilter"]

"""Plan adherence: the note must express the symptom categories its plan asked for.

:func:`adherence` is the one definition: the run's filter rejects on it and the report aggregates it. A
planned category counts as expressed when the run's annotator labelled a sentence of the note with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.components import Filter, NoteBundle, Verdict
from dualalign_core.records import NotePlan


@frozen
class AdherenceReport:
    """Planned categories, those the annotator's labels express, recall and invented ones."""

    planned: tuple[str, ...]
    found: tuple[str, ...]
    missing: tuple[str, ...]
    invented: tuple[str, ...]
    recall: float


def adherence(plan: NotePlan, labels: Iterable[str], negative: str) -> AdherenceReport:
    """How well a note's sentence labels (the run's annotator's) realise its plan's categories; a plan without
    required terms has recall 1."""
    planned = tuple(sorted({t.label for t in plan.required_terms}))
    found = {label for label in labels if label != negative}
    missing = tuple(c for c in planned if c not in found)
    invented = tuple(sorted(found - set(planned)))
    recall = 1.0 if not planned else (len(planned) - len(missing)) / len(planned)
    return AdherenceReport(planned, tuple(sorted(found)), missing, invented, recall)


def terms_verbatim(plan: NotePlan, text: str) -> float | None:
    """Share of the plan's required terms found verbatim (case-insensitive) in the note text."""
    if not plan.required_terms:
        return None
    lowered = text.lower()
    return sum(1 for t in plan.required_terms if t.term.lower() in lowered) / len(plan.required_terms)


class PlanAdherenceFilter(Filter):
    """Rejects a note whose recall of planned categories is below ``min_recall`` (stage ``annotated``).

    A planned category counts as expressed when the run's annotator labelled a sentence with it (see
    :func:`adherence`). Categories expressed but not planned are *invented*; they are reported, and reject
    only when ``max_invented`` is set and exceeded.
    """

    name = "plan_adherence"
    stage: ClassVar[str] = "annotated"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "min_recall": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.6},
            "max_invented": {
                "type": ["integer", "null"],
                "minimum": 0,
                "default": None,
                "description": "Most invented categories a note may have (null: any).",
            },
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.min_recall = float(self.options["min_recall"])
        self.max_invented: int | None = self.options["max_invented"]

    def measure(self, bundle: NoteBundle, ctx: Any) -> AdherenceReport:
        return adherence(bundle.plan, (lab.label for lab in bundle.labels), ctx.disease.negative_label)

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        r = self.measure(bundle, ctx)
        if r.recall < self.min_recall:
            return Verdict(
                f"planned-category recall {r.recall:.2f} < {self.min_recall:.2f}; "
                f"missing: {_list(r.missing)}; invented: {_list(r.invented)}",
                value=r.recall,
                threshold=self.min_recall,
            )
        if self.max_invented is not None and len(r.invented) > self.max_invented:
            return Verdict(
                f"{len(r.invented)} invented categories: {_list(r.invented)}",
                value=float(len(r.invented)),
                threshold=float(self.max_invented),
            )
        return None


def _list(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "none"

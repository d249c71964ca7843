"""The ``plan`` annotator: labels from the generator itself, for generators that know what they wrote.

The template generator's note grammar returns the label of every sentence it wrote (``Generation.spans``);
this annotator maps them onto the segmenter's sentences (a sentence takes the highest-precedence label among
the spans it overlaps; none: the negative label). Evidence names what was written (``symptom:descriptive
tremor``, ``negative:family_history``...). A generation without spans (an LLM's) is an error: use an
annotator that reads text (``lexicon`` or an LLM) for those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from dualalign_core.components import Annotation, Annotator, Generation, LabelledSpan
from dualalign_core.errors import BadInput
from dualalign_core.grammar.compose import precedence
from dualalign_core.records import Label, Note, Sentence


def labels_for(
    sentences: Sequence[Sentence], spans: Sequence[LabelledSpan], disease: Any
) -> list[tuple[str, str | None]]:
    """(label, evidence) per sentence from the spans it overlaps."""
    rank = {lab: i for i, lab in enumerate(precedence(disease))}
    out: list[tuple[str, str | None]] = []
    for s in sentences:
        best: LabelledSpan | None = None
        for sp in spans:
            if (
                sp.start < s.end
                and s.start < sp.end
                and sp.label != disease.negative_label
                and (best is None or rank.get(sp.label, 99) < rank.get(best.label, 99))
            ):
                best = sp
        if best is not None:
            out.append((best.label, f"{best.kind} {best.term_id}" if best.term_id else best.kind))
        else:
            kinds = [sp.kind for sp in spans if sp.start < s.end and s.start < sp.end]
            out.append((disease.negative_label, kinds[0] if kinds else None))
    return out


class PlanAnnotator(Annotator):
    """Labels each sentence with what the generator's grammar wrote there (offline, exact)."""

    name = "plan"
    concurrency: ClassVar[int] = 64
    options_schema: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False, "properties": {}}

    async def annotate(self, note: Note, sentences: Sequence[Sentence], ctx: Any) -> Annotation:
        raise BadInput(
            "the plan annotator labels only notes a labelling generator (template) just wrote; "
            "use the lexicon or an LLM annotator for other text",
            field="annotator.name",
        )

    async def annotate_generation(
        self, note: Note, sentences: Sequence[Sentence], generation: Generation, ctx: Any
    ) -> Annotation:
        if not generation.spans:
            return await self.annotate(note, sentences, ctx)
        disease = ctx.disease
        prov = ctx.provenance(self, ctx.seed)
        labels = [
            Label(
                sentence_id=s.id,
                note_id=note.id,
                label=label,
                binary=label != disease.negative_label,
                annotator=self.name or "plan",
                evidence=evidence,
                provenance=prov,
            )
            for s, (label, evidence) in zip(sentences, labels_for(sentences, generation.spans, disease), strict=True)
        ]
        return Annotation(labels=tuple(labels))

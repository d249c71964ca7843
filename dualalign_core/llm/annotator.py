"""The generic LLM annotator: follows the disease pack's written protocol, over any backend.

Strategy ``note`` (default) labels every sentence of a note in ONE request (indices in, labels out, JSON
Schema-constrained, an evidence span per label); strategy ``sentence`` sends one request per sentence, for
comparison. Labels outside the disease's label set fail validation and are re-asked once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dualalign_core.components import Annotation, Annotator
from dualalign_core.llm.adapter import BackendBound
from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.types import LLMRequest, Message
from dualalign_core.records import Label, Note, Sentence, Usage

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack

INSTRUCTIONS = """\
You are a clinical annotator. Follow the annotation protocol below exactly.

Label every sentence you are given with exactly one label from this set: {labels}.
Use "{negative}" when no other label applies. For every label other than "{negative}", give as evidence
the shortest span copied verbatim from that sentence that justifies it; for "{negative}" give "".
Reply with JSON only.

# Annotation protocol

{protocol}"""


TEMPERATURE = 0.0  # the role's default temperature (no schema default: generating uses another)
SENTENCE_MAX_TOKENS = 128  # strategy sentence: the reply budget per sentence


def note_max_tokens(n_sentences: int) -> int:
    """Strategy note: the reply budget for a note of ``n_sentences`` (a dynamic default, not in the schema)."""
    return 64 + 48 * n_sentences


def system_prompt(disease: DiseasePack) -> str:
    """Shared by every request of a run (so vendors can cache it)."""
    labels = ", ".join(f'"{x}"' for x in disease.all_labels)
    return INSTRUCTIONS.format(labels=labels, negative=disease.negative_label, protocol=disease.protocol.strip())


def note_schema(labels: Sequence[str]) -> dict[str, Any]:
    item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["index", "label", "evidence"],
        "properties": {
            "index": {"type": "integer"},
            "label": {"type": "string", "enum": list(labels)},
            "evidence": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["labels"],
        "properties": {"labels": {"type": "array", "items": item}},
    }


def sentence_schema(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["label", "evidence"],
        "properties": {"label": {"type": "string", "enum": list(labels)}, "evidence": {"type": "string"}},
    }


def note_check(n: int, labels: Sequence[str]):  # noqa: ANN201 - a closure for runtime.complete_json
    """Extra rules the schema cannot say: each index 0..n-1 exactly once, labels from the set."""
    allowed = set(labels)

    def check(data: dict[str, Any]) -> list[str]:
        problems = []
        seen = [item["index"] for item in data["labels"]]
        missing = sorted(set(range(n)) - set(seen))
        extra = sorted({i for i in seen if i >= n})
        dupes = sorted({i for i in seen if seen.count(i) > 1})
        if missing:
            problems.append(f"sentences {missing} have no label")
        if extra:
            problems.append(f"indices {extra} do not exist (sentences are 0..{n - 1})")
        if dupes:
            problems.append(f"sentences {dupes} are labelled more than once")
        bad = sorted({item["label"] for item in data["labels"]} - allowed)
        if bad:
            problems.append(f"labels {bad} are not in the label set {sorted(allowed)}")
        return problems

    return check


def _evidence(evidence: str | None, sentence: str) -> str | None:
    """The evidence if it is really a span of the sentence (case and spacing aside), else None."""
    if not evidence or not evidence.strip():
        return None
    squash = " ".join(evidence.split()).lower()
    return evidence.strip() if squash in " ".join(sentence.split()).lower() else None


def tokens_per_sentence(usage: Usage, n_sentences: int) -> float:
    """Input + output tokens per labelled sentence (to compare strategies)."""
    return (usage.input_tokens + usage.output_tokens) / max(1, n_sentences)


class LLMAnnotator(BackendBound, Annotator):
    """Labels sentences with an LLM backend following ``ctx.disease.protocol``."""

    def __init__(self, backend: LLMBackend, **options: Any) -> None:
        Annotator.__init__(self, **options)
        self._bind(backend)
        self.strategy: str = self.options.get("strategy") or self.option("strategy")  # own, else the backend's

    def _request(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> LLMRequest:
        return LLMRequest(
            model=self.backend.model_name,
            messages=[Message("system", system), Message("user", user)],
            temperature=self.option("temperature", TEMPERATURE),
            max_tokens=max_tokens,
            json_schema=schema,
            cache_system=True,
        )

    def note_request(self, sentences: Sequence[Sentence], disease: DiseasePack) -> LLMRequest:
        lines = "\n".join(f"[{i}] {' '.join(s.text.split())}" for i, s in enumerate(sentences))
        user = (
            f"Label each of the {len(sentences)} numbered sentences of this clinical note. Return one item "
            f"per sentence, in order, with its index.\n\n{lines}"
        )
        budget = self.option("max_tokens", note_max_tokens(len(sentences)))
        return self._request(system_prompt(disease), user, note_schema(disease.all_labels), budget)

    def sentence_request(self, sentence: Sentence, disease: DiseasePack) -> LLMRequest:
        user = f"Label this sentence from a clinical note.\n\nSentence: {' '.join(sentence.text.split())}"
        return self._request(
            system_prompt(disease),
            user,
            sentence_schema(disease.all_labels),
            self.option("max_tokens", SENTENCE_MAX_TOKENS),
        )

    async def annotate(self, note: Note, sentences: Sequence[Sentence], ctx: RunContext) -> Annotation:
        if not sentences:
            return Annotation(())
        disease = ctx.disease
        if self.strategy == "sentence":
            picks, usage = [], Usage()
            for s in sentences:
                result = await self.runtime.complete_json(self.sentence_request(s, disease), ctx)
                picks.append(result.data)
                usage = usage + result.usage
        else:
            result = await self.runtime.complete_json(
                self.note_request(sentences, disease), ctx, check=note_check(len(sentences), disease.all_labels)
            )
            by_index = {item["index"]: item for item in result.data["labels"]}
            picks, usage = [by_index[i] for i in range(len(sentences))], result.usage
        prov = ctx.provenance(self, ctx.seed, model=self.backend.model_name, prompt_hash=_protocol_hash(disease))
        labels = tuple(
            Label(
                sentence_id=s.id,
                note_id=note.id,
                label=p["label"],
                binary=p["label"] != disease.negative_label,
                annotator=self.name,
                evidence=_evidence(p.get("evidence"), s.text),
                provenance=prov,
            )
            for s, p in zip(sentences, picks, strict=True)
        )
        return Annotation(labels, usage)


def _protocol_hash(disease: DiseasePack) -> str:
    return hashlib.sha256(system_prompt(disease).encode("utf-8")).hexdigest()[:16]

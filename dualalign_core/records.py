"""Pipeline records: small frozen attrs values, each with provenance, serialisable with cattrs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import field, frozen
from attrs.validators import ge, in_, instance_of, le, optional

from dualalign_core.history.timeline import NoteContext, NoteMemory, Timeline
from dualalign_core.values import Provenance as Provenance
from dualalign_core.values import as_frozenset as as_frozenset
from dualalign_core.values import as_tuple as as_tuple

T = TypeVar("T")


def _non_empty(_inst: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty")


def _frozen_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(sorted(dict(value).items()))


@frozen
class Persona:
    """One synthetic patient: demographics (variable -> category), age, risk factors."""

    id: str = field(validator=_non_empty)
    age: int = field(validator=[instance_of(int), ge(0), le(120)])
    demographics: dict[str, str] = field(converter=_frozen_mapping, hash=False)
    risk_factors: tuple[str, ...] = field(converter=as_tuple)
    provenance: Provenance
    # fields a persona source adds that are not demographics (``insurance``, ``education_years``...): prompt
    # fields by name (the pack lists them in ``persona_fields``), never tabulated as demographics
    attributes: dict[str, str] = field(factory=dict, converter=_frozen_mapping, hash=False)

    @property
    def sex(self) -> str | None:
        return self.demographics.get("sex")


@frozen
class RequiredTerm:
    """A symptom term a note must express, with its label (category)."""

    label: str
    term_id: str
    term: str


@frozen
class NotePlan:
    """What one note must contain: visit time, note type, stage, required terms by category."""

    id: str = field(validator=_non_empty)
    persona_id: str
    index: int = field(validator=ge(0))
    years_before_diagnosis: float = field(validator=ge(0.0))
    note_type: str
    stage: str
    n_mentions: int = field(validator=ge(0))
    required_terms: tuple[RequiredTerm, ...] = field(converter=as_tuple)
    provenance: Provenance
    context: NoteContext | None = None  # the patient's timeline at this note (planned with it)
    memory: NoteMemory | None = None  # set when made: the earlier generated notes it is conditioned on

    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({t.label for t in self.required_terms}))


@frozen
class Usage:
    """Tokens and dollars spent on one LLM call (or a sum of them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            round(self.cost_usd + other.cost_usd, 10),
            self.cached and other.cached,
        )


@frozen
class Note:
    """A generated note for one plan."""

    id: str = field(validator=_non_empty)
    plan_id: str
    persona_id: str
    text: str = field(validator=instance_of(str))
    usage: Usage
    provenance: Provenance
    conditioned_on: tuple[str, ...] = field(converter=as_tuple, default=())  # earlier notes it remembers
    memory_hash: str | None = None  # hash of the summary of them it was given


@frozen
class Sentence:
    """One sentence of a note, with character offsets into the note text."""

    id: str
    note_id: str
    index: int = field(validator=ge(0))
    start: int = field(validator=ge(0))
    end: int
    text: str
    section: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"sentence {self.id}: end {self.end} < start {self.start}")


@frozen
class Label:
    """A sentence label: one category (or ``none``), its binary value, and the evidence span."""

    sentence_id: str
    note_id: str
    label: str = field(validator=_non_empty)
    binary: bool
    annotator: str
    evidence: str | None = None
    confidence: float | None = field(default=None, validator=optional(instance_of(float)))
    provenance: Provenance | None = None


@frozen
class Rejection:
    """Why a filter dropped a record: the measured value against the threshold."""

    record_id: str
    record_kind: str = field(validator=in_(("note", "plan", "persona")))
    filter: str
    reason: str
    value: float | None = None
    threshold: float | None = None
    provenance: Provenance | None = None
    enforced: bool = True  # False: a warn-only filter recorded it in the ledger without rejecting
    attempt: int = field(default=0, validator=ge(0))  # which attempt at the note it judged (0: the first)


RECORD_TYPES: dict[str, type] = {
    "persona": Persona,
    "plan": NotePlan,
    "note": Note,
    "sentence": Sentence,
    "label": Label,
    "rejection": Rejection,
    "timeline": Timeline,
}

converter = cattrs.Converter()


def to_dict(record: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of a record (tuples become lists)."""
    return converter.unstructure(record)


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a record from :func:`to_dict` output."""
    return converter.structure(dict(data), cls)


def dumps(record: Any) -> str:
    """Canonical JSON of a record: sorted keys, no whitespace, so equal records give equal bytes."""
    return canonical_json(to_dict(record))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

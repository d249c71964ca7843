"""The texts a scorecard compares: a run's accepted notes, and reference / control JSONL read through the
core's reader (never copied anywhere: only their path and counts are recorded)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen

from dualalign_core.errors import BadInput
from dualalign_core.run.view import RunView
from dualalign_core.text.diversity import tokens

SENTENCE_UNIT_MAX = 40  # median tokens per record below this: the file holds sentences, not notes
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


@frozen
class Corpus:
    """Texts of one kind (``unit``: notes or sentences) with optional labels."""

    texts: tuple[str, ...]
    unit: str
    labels: tuple[str | None, ...]
    source: str

    def describe(self) -> dict[str, Any]:
        """What the scorecard records about an input: never its text."""
        return {"path": self.source, "records": len(self.texts), "unit": self.unit, "labelled": self.labelled}

    @property
    def labelled(self) -> int:
        return sum(1 for lb in self.labels if lb is not None)


@frozen
class SyntheticNote:
    id: str
    persona_id: str
    text: str


def unit_of(texts: Sequence[str]) -> str:
    lengths = [len(tokens(t)) for t in texts[:2000]]
    return "sentences" if lengths and float(np.median(lengths)) < SENTENCE_UNIT_MAX else "notes"


def read_corpus(path: str | Path, *, what: str) -> Corpus:
    """A JSONL file of notes or sentences (``text``, optional ``label``), through the core's JSONL reader."""
    from dualalign_core.annotate.files import iter_jsonl

    texts: list[str] = []
    labels: list[str | None] = []
    for n, rec in iter_jsonl(path):
        label = rec.get("label")
        if label is not None and not isinstance(label, str):
            raise BadInput("field 'label' must be a string", file=str(path), field=f"line {n}")
        texts.append(rec["text"])
        labels.append(label)
    if len(texts) < 2:
        raise BadInput(f"the {what} needs at least 2 records with `text`", file=str(path))
    return Corpus(tuple(texts), unit_of(texts), tuple(labels), str(path))


def split_sentences(text: str) -> list[str]:
    """A light split on sentence-ending punctuation and line breaks (the replay unit)."""
    return [s for s in (p.strip() for p in _SPLIT.split(text)) if s]


def synthetic_notes(view: RunView) -> list[SyntheticNote]:
    """The run's accepted notes (what an export ships)."""
    return [SyntheticNote(n.id, n.persona_id, n.text) for n in view.accepted]


def synthetic_units(notes: Sequence[SyntheticNote], unit: str) -> list[str]:
    """The synthetic texts at the reference's grain: whole notes, or their sentences."""
    if unit == "notes":
        return [n.text for n in notes]
    return [s for n in notes for s in split_sentences(n.text)]


def synthetic_labels(view: RunView) -> list[str]:
    """The primary annotator's sentence labels on accepted notes."""
    accepted = {n.id for n in view.accepted}
    return [lb.label for lb in view.primary_labels.values() if lb.note_id in accepted]


class CachedEmbedder:
    """An embedder that embeds each text once (MAUVE's synthetic sample also serves embedding similarity)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, texts: Sequence[str], max_length: int = 128) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if (t, max_length) not in self.cache]
        if missing:
            for t, v in zip(missing, self.embedder(missing, max_length=max_length), strict=True):
                self.cache[(t, max_length)] = v
        return np.stack([self.cache[(t, max_length)] for t in texts]) if texts else np.zeros((0, 384))

"""Quality figures: segmentation accuracy on hard cases, annotator precision/recall per label."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.text.segment import Span, segment


@frozen
class SegmentationCase:
    """A hard case: the text and the sentences it must split into (markers and headers removed)."""

    id: str
    text: str
    sentences: tuple[str, ...]


@frozen
class SegmentationScore:
    """Exact-case accuracy and sentence-level precision/recall (a sentence counts when its span is exact)."""

    cases: int
    exact_cases: int
    precision: float
    recall: float
    failures: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        return self.exact_cases / self.cases if self.cases else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)


def load_cases(path: str | Path) -> list[SegmentationCase]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(SegmentationCase(d["id"], d["text"], tuple(d["sentences"])))
    return out


def _gold_spans(case: SegmentationCase) -> set[tuple[int, int]]:
    spans, pos = set(), 0
    for sent in case.sentences:
        start = case.text.index(sent, pos)
        spans.add((start, start + len(sent)))
        pos = start + len(sent)
    return spans


def segmentation_quality(
    cases: Sequence[SegmentationCase], segmenter: Callable[[str], Sequence[Span]] = segment
) -> SegmentationScore:
    """Score ``segmenter`` on ``cases``."""
    tp = n_pred = n_gold = exact = 0
    failures = []
    for case in cases:
        gold = _gold_spans(case)
        pred = {(s.start, s.end) for s in segmenter(case.text)}
        tp += len(gold & pred)
        n_pred += len(pred)
        n_gold += len(gold)
        if gold == pred:
            exact += 1
        else:
            failures.append(case.id)
    return SegmentationScore(
        len(cases), exact, tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0, tuple(failures)
    )


@frozen
class LabelScore:
    """Precision, recall and F1 of one label (one-vs-rest) with its gold support."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@frozen
class LabelQuality:
    """Per-label scores, accuracy, binary (any positive label vs the negative one) scores and the errors."""

    n: int
    accuracy: float
    per_label: tuple[LabelScore, ...]
    binary: LabelScore
    errors: tuple[tuple[str, str, str], ...]  # (text, gold, predicted)

    @property
    def macro_f1(self) -> float:
        """Mean F1 over every label, the negative one included (the multi-class macro-F1)."""
        return sum(s.f1 for s in self.per_label) / len(self.per_label) if self.per_label else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "binary": _score_dict(self.binary),
            "per_label": {s.label: _score_dict(s) for s in self.per_label},
        }


def _score_dict(s: LabelScore) -> dict[str, Any]:
    return {
        "precision": round(s.precision, 4),
        "recall": round(s.recall, 4),
        "f1": round(s.f1, 4),
        "support": s.support,
        "predicted": s.predicted,
    }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _score(label: str, gold: Sequence[bool], pred: Sequence[bool]) -> LabelScore:
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    n_pred, n_gold = sum(pred), sum(gold)
    precision = tp / n_pred if n_pred else (1.0 if not n_gold else 0.0)
    recall = tp / n_gold if n_gold else (1.0 if not n_pred else 0.0)
    return LabelScore(label, precision, recall, _f1(precision, recall), n_gold, n_pred)


def label_quality(
    texts: Sequence[str], gold: Sequence[str], pred: Sequence[str], labels: Iterable[str], negative_label: str
) -> LabelQuality:
    """Per-label P/R/F1 of ``pred`` against ``gold`` for every label in ``labels`` plus the negative one."""
    if not (len(texts) == len(gold) == len(pred)):
        raise ValueError("texts, gold and pred must have the same length")
    per_label = tuple(
        _score(lab, [g == lab for g in gold], [p == lab for p in pred]) for lab in (*labels, negative_label)
    )
    binary = _score("binary", [g != negative_label for g in gold], [p != negative_label for p in pred])
    errors = tuple((t, g, p) for t, g, p in zip(texts, gold, pred, strict=True) if g != p)
    accuracy = 1 - len(errors) / len(texts) if texts else 0.0
    return LabelQuality(len(texts), accuracy, per_label, binary, errors)


def load_labelled(path: str | Path) -> list[Mapping[str, Any]]:
    """The labelled sentence set: JSONL records with ``text`` and ``label`` (and an optional ``note``)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]

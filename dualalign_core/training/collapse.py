"""A binary classifier answered by a model trained on the pack's labels (``binary_via = "labels"``).

The binary task (symptom or not) loses what kind of symptom a sentence is; training on the pack's labels keeps
it, and the binary answer is the sum of the symptom labels' probabilities against the negative label's. On the
realistic dev set this lifted a MiniLM binary model (README, "Classifiers").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dualalign_core.components import Classifier

BINARY_VIA = ("labels", "binary")  # train on the pack's labels and collapse, or on binary labels


class Collapsed:
    """``inner`` (trained on the pack's labels) as a binary classifier over ``(negative, positive)``."""

    def __init__(self, inner: Classifier, negative: str, positive: str):
        self.inner, self.negative = inner, negative
        self.labels: tuple[str, ...] = (negative, positive)
        self._neg = list(inner.labels).index(negative)

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Log-probabilities of (negative, any other label), from the inner model's logits."""
        raw = np.asarray(self.inner.logits(texts, batch_size=batch_size), dtype=np.float64)  # type: ignore[attr-defined]
        shifted = raw - raw.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        neg = p[:, self._neg]
        return np.log(np.stack([neg, 1.0 - neg], axis=1).clip(1e-12)).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> list[str]:
        if not texts:
            return []
        if not hasattr(self.inner, "logits"):  # a classifier without logits: any symptom label is positive
            return [self.negative if p == self.negative else self.labels[1] for p in self.inner.predict(texts)]
        return [self.labels[i] for i in self.logits(texts).argmax(axis=1)]


def collapsed(model: Classifier, meta: dict[str, Any]) -> Classifier:
    """The classifier a model directory's meta describes: collapsed when it was trained on the pack's labels
    for the binary task."""
    if meta.get("task") == "binary" and meta.get("trained_labels"):
        return Collapsed(model, meta["labels"][0], meta["labels"][1])
    return model


__all__ = ["BINARY_VIA", "Collapsed", "collapsed"]

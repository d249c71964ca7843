"""Classification metrics with numpy: accuracy, macro/weighted F1, per-label P/R/F1, confusion, subgroups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Rows: true label, columns: predicted label (labels outside ``labels`` are ignored)."""
    index = {lb: i for i, lb in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m


def scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro and weighted F1 and per-label precision/recall/F1/support.

    Macro F1 averages over the labels that occur in the truth or the predictions (as scikit-learn does).
    """
    m = confusion(y_true, y_pred, labels)
    tp = np.diag(m).astype(float)
    support = m.sum(axis=1).astype(float)
    predicted = m.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (support + predicted) > 0
    n = len(y_true)
    return {
        "n": n,
        "accuracy": float(np.mean([t == p for t, p in zip(y_true, y_pred, strict=True)])) if n else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else 0.0,
        "per_label": {
            lb: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, lb in enumerate(labels)
        },
        "confusion": {"labels": list(labels), "matrix": m.tolist()},
    }


def report(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """:func:`scores` plus, per subgroup variable and value, n / accuracy / macro F1 / weighted F1."""
    out = scores(y_true, y_pred, labels)
    out["majority_baseline"] = majority_baseline(y_true, labels)
    subgroups: dict[str, dict[str, Any]] = {}
    if groups:
        variables = sorted({k for g in groups for k in g})
        for var in variables:
            values = sorted({g[var] for g in groups if var in g})
            subgroups[var] = {}
            for value in values:
                idx = [i for i, g in enumerate(groups) if g.get(var) == value]
                s = scores([y_true[i] for i in idx], [y_pred[i] for i in idx], labels)
                subgroups[var][value] = {k: s[k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")}
    out["subgroups"] = subgroups
    return out


def majority_baseline(y_true: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """What always predicting the most frequent true label scores."""
    if not y_true:
        return {"accuracy": 0.0, "macro_f1": 0.0}
    top = max(set(y_true), key=list(y_true).count)
    s = scores(y_true, [top] * len(y_true), labels)
    return {"label": top, "accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}

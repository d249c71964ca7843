"""Reweighting a skewed source cohort (e.g. a VA-like cohort, mostly older men) to the target tables.

Weights are importance ratios per demographic cell, w(c) = p_target(c) / p_source(c), over the variables
both tables share. ``resample`` draws a target-aligned cohort from the source rows with those weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from attrs import frozen

from dualalign_core.sampling.tables import marginal, target_joint, tvd


@frozen
class Reweighting:
    """Per-cell weights and what they buy: TVD before/after and the effective sample size fraction."""

    variables: tuple[str, ...]
    source: dict[tuple[str, ...], float]
    target: dict[tuple[str, ...], float]
    weights: dict[tuple[str, ...], float]
    tvd_before: float
    ess_fraction: float  # Kish effective sample size / n, for resampling the source with these weights
    unsupported: tuple[tuple[str, ...], ...]  # target cells the source never covers

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "cell": dict(zip(self.variables, c, strict=True)),
                "source": round(self.source.get(c, 0.0), 4),
                "target": round(self.target.get(c, 0.0), 4),
                "weight": round(w, 4),
            }
            for c, w in sorted(self.weights.items())
        ]


def compute_weights(source_doc: Mapping[str, Any], target_doc: Mapping[str, Any]) -> Reweighting:
    """Weights from a source-cohort demographics table to a target demographics table."""
    s_order, s_joint = target_joint(source_doc)
    t_order, t_joint = target_joint(target_doc)
    shared = tuple(v for v in t_order if v in s_order)
    if not shared:
        raise ValueError("source and target tables share no demographic variable")
    src = marginal(s_order, s_joint, shared)
    tgt = marginal(t_order, t_joint, shared)
    weights = {c: (tgt.get(c, 0.0) / p if p > 0 else 0.0) for c, p in src.items()}
    unsupported = tuple(sorted(c for c, p in tgt.items() if p > 0 and src.get(c, 0.0) == 0))
    w = np.array([weights[c] for c in src])
    p = np.array([src[c] for c in src])
    ess = float((p @ w) ** 2 / (p @ (w**2))) if (p @ (w**2)) > 0 else 0.0
    return Reweighting(shared, src, tgt, weights, tvd(src, tgt), ess, unsupported)


def resample(
    rows: Sequence[Mapping[str, str]], reweighting: Reweighting, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of ``n`` rows drawn with probability proportional to their cell's weight."""
    w = np.array([reweighting.weights.get(tuple(r[v] for v in reweighting.variables), 0.0) for r in rows])
    if w.sum() <= 0:
        raise ValueError("no source row has a positive weight")
    return rng.choice(len(rows), size=n, replace=True, p=w / w.sum())

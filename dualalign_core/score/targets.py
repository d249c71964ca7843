"""Fidelity: the run's stored target-vs-sampled table (``manifest["fidelity"]``), summarised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dualalign_core.score.grades import Measure
from dualalign_core.score.thresholds import measure, not_measured

NAMES = ["fidelity.max_demographic_tvd", "fidelity.max_risk_factor_error", "fidelity.max_category_error"]


def _worst(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row with the largest distance, with its worst cell when target and measured are tables."""
    if not rows:
        return None
    row = max(rows, key=lambda r: r["distance"])
    out = {"key": row["key"], "distance": row["distance"]}
    target, measured = row.get("target"), row.get("measured")
    if isinstance(target, Mapping) and isinstance(measured, Mapping) and target:
        cell = max(target, key=lambda k: abs(float(measured.get(k, 0.0)) - float(target[k])))
        out["worst_cell"] = {"cell": cell, "target": target[cell], "measured": measured.get(cell, 0.0)}
    elif target is not None:
        out.update(target=target, measured=measured)
    return out


def fidelity_measures(manifest: Mapping[str, Any]) -> list[Measure]:
    fid = manifest.get("fidelity") or {}
    rows = fid.get("rows") or []
    if not rows:
        return not_measured(NAMES, "the run stored no fidelity table (it stopped before planning)")
    by = {m: [r for r in rows if r.get("metric") == m] for m in ("demographic_tvd", "risk_factor_rate")}
    by["category_proportions"] = [r for r in rows if r.get("metric") == "category_proportions"]
    note = f"{fid.get('patients')} patients, {fid.get('notes')} planned notes; small cohorts deviate by chance"
    out = []
    for name, metric in zip(NAMES, ("demographic_tvd", "risk_factor_rate", "category_proportions"), strict=True):
        worst = _worst(by[metric])
        if worst is None:
            out.append(measure(name, None, note=f"no {metric.replace('_', ' ')} rows in the fidelity table"))
        else:
            out.append(measure(name, worst["distance"], {"worst": worst, "rows": len(by[metric]), "cohort": note}))
    return out

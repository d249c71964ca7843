"""Fidelity of a sampled cohort and its plans against the disease pack's targets.

Rows of (metric, key, target, measured, distance): total variation distance per demographic marginal,
risk-factor rate errors (points), category proportions per stage, mentions per note, notes per patient.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dualalign_core.disease import DiseasePack
from dualalign_core.records import NotePlan, Persona
from dualalign_core.sampling.tables import expected_rate, marginal, target_joint, tvd


def _dist(counter: Counter, total: int) -> dict[Any, float]:
    return {k: v / total for k, v in counter.items()} if total else {}


def demographic_rows(disease: DiseasePack, variables_of: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    order, joint = target_joint(disease.demographics)
    n = len(variables_of)
    rows = []
    groups = [(v,) for v in order]
    for f in disease.demographics["factors"]:
        if len(f["variables"]) + len(f.get("given", [])) > 1:
            groups.append(tuple(f.get("given", [])) + tuple(f["variables"]))
    seen = set()
    for group in groups:
        if group in seen:
            continue
        seen.add(group)
        target = marginal(order, joint, group)
        measured = _dist(Counter(tuple(d[v] for v in group) for d in variables_of), n)
        rows.append(
            {
                "metric": "demographic_tvd",
                "key": " x ".join(group),
                "target": {"|".join(k): round(p, 4) for k, p in sorted(target.items())},
                "measured": {"|".join(k): round(measured.get(k, 0.0), 4) for k in sorted(target)},
                "distance": round(tvd(target, measured), 4),
            }
        )
    return rows


def risk_rows(disease: DiseasePack, personas: Sequence[Persona]) -> list[dict[str, Any]]:
    order, joint = target_joint(disease.demographics)
    n = len(personas)
    counts = Counter(rf for p in personas for rf in p.risk_factors)
    rows = []
    for f in disease.risk_factors["factors"]:
        target = expected_rate(f, order, joint)
        measured = counts.get(f["id"], 0) / n if n else 0.0
        rows.append(
            {
                "metric": "risk_factor_rate",
                "key": f["id"],
                "target": round(target, 4),
                "measured": round(measured, 4),
                "distance": round(abs(measured - target) * 100, 2),
                "unit": "points",
            }
        )
    return rows


def plan_rows(disease: DiseasePack, plans: Sequence[NotePlan], multiplier: float) -> list[dict[str, Any]]:
    sched = disease.schedule
    rows = []
    for stage in disease.stages:
        stage_plans = [p for p in plans if p.stage == stage]
        if not stage_plans:
            continue
        target = sched["category_proportions"]["by_stage"][stage]
        total = sum(len(p.required_terms) for p in stage_plans)
        measured = _dist(Counter(t.label for p in stage_plans for t in p.required_terms), total)
        err = max(abs(measured.get(lb, 0.0) - target.get(lb, 0.0)) for lb in disease.labels) * 100
        rows.append(
            {
                "metric": "category_proportions",
                "key": stage,
                "target": {lb: round(target.get(lb, 0.0), 4) for lb in disease.labels},
                "measured": {lb: round(measured.get(lb, 0.0), 4) for lb in disease.labels},
                "distance": round(err, 2),
                "unit": "max points",
                "n_mentions": total,
            }
        )
        mean_target = sched["mentions_per_note"]["by_stage"][stage] * multiplier
        mean_measured = float(np.mean([p.n_mentions for p in stage_plans]))
        rows.append(
            {
                "metric": "mentions_per_note",
                "key": stage,
                "target": round(mean_target, 3),
                "measured": round(mean_measured, 3),
                "distance": round(abs(mean_measured - mean_target) / mean_target, 4) if mean_target else 0.0,
                "unit": "relative",
                "n_notes": len(stage_plans),
            }
        )
    per_patient = Counter(p.persona_id for p in plans)
    if per_patient:
        med = float(np.median(list(per_patient.values())))
        target = float(sched["notes_per_patient"]["median"])
        rows.append(
            {
                "metric": "notes_per_patient_median",
                "key": "all",
                "target": target,
                "measured": med,
                "distance": round(abs(med - target) / target, 4),
                "unit": "relative",
            }
        )
    return rows


def fidelity_report(
    disease: DiseasePack, personas: Sequence[Persona], plans: Sequence[NotePlan], multiplier: float
) -> dict[str, Any]:
    """The fidelity table stored in the manifest and printed by ``dualalign plan``."""
    rows = demographic_rows(disease, [p.demographics for p in personas])
    rows += risk_rows(disease, personas)
    rows += plan_rows(disease, plans, multiplier)
    demo = [r["distance"] for r in rows if r["metric"] == "demographic_tvd"]
    risk = [r["distance"] for r in rows if r["metric"] == "risk_factor_rate"]
    cats = [r["distance"] for r in rows if r["metric"] == "category_proportions"]
    return {
        "patients": len(personas),
        "notes": len(plans),
        "multiplier": multiplier,
        "summary": {
            "max_demographic_tvd": max(demo, default=0.0),
            "max_risk_factor_error_points": max(risk, default=0.0),
            "max_category_proportion_error_points": max(cats, default=0.0),
            "mean_mentions_per_note": round(float(np.mean([p.n_mentions for p in plans])), 3) if plans else 0.0,
        },
        "rows": rows,
    }

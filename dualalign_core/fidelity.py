"""Fidelity of a sampled cohort and its plans against the disease pack's targets.

Rows of (metric, key, target, measured, distance): total variation distance per demographic marginal,
risk-factor rate errors (points), category proportions per stage, mentions per note, notes per patient.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
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


class PlanTally:
    """What the fidelity table needs of the plans, gathered in one pass (plans may stream from sampling)."""

    def __init__(self) -> None:
        self.labels: dict[str, Counter] = {}  # stage -> label counts of required terms
        self.mentions: dict[str, list[int]] = {}  # stage -> each plan's n_mentions
        self.per_patient: Counter = Counter()
        self.notes = 0

    def add(self, plan: NotePlan) -> None:
        self.labels.setdefault(plan.stage, Counter()).update(t.label for t in plan.required_terms)
        self.mentions.setdefault(plan.stage, []).append(plan.n_mentions)
        self.per_patient[plan.persona_id] += 1
        self.notes += 1

    @classmethod
    def of(cls, plans: Iterable[NotePlan]) -> PlanTally:
        tally = cls()
        for p in plans:
            tally.add(p)
        return tally


def plan_rows(disease: DiseasePack, plans: Iterable[NotePlan] | PlanTally, multiplier: float) -> list[dict[str, Any]]:
    tally = plans if isinstance(plans, PlanTally) else PlanTally.of(plans)
    sched = disease.schedule
    rows = []
    for stage in disease.stages:
        if stage not in tally.mentions:
            continue
        target = sched["category_proportions"]["by_stage"][stage]
        counts = tally.labels[stage]
        total = sum(counts.values())
        measured = _dist(counts, total)
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
        mean_measured = float(np.mean(tally.mentions[stage]))
        rows.append(
            {
                "metric": "mentions_per_note",
                "key": stage,
                "target": round(mean_target, 3),
                "measured": round(mean_measured, 3),
                "distance": round(abs(mean_measured - mean_target) / mean_target, 4) if mean_target else 0.0,
                "unit": "relative",
                "n_notes": len(tally.mentions[stage]),
            }
        )
    per_patient = tally.per_patient
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
    disease: DiseasePack, personas: Sequence[Persona], plans: Iterable[NotePlan], multiplier: float
) -> dict[str, Any]:
    """The fidelity table stored in the manifest and printed by ``dualalign plan``; ``plans`` is read once
    (a stream of plans as they are sampled and stored is enough)."""
    rows = demographic_rows(disease, [p.demographics for p in personas])
    rows += risk_rows(disease, personas)
    tally = PlanTally.of(plans)
    rows += plan_rows(disease, tally, multiplier)
    mentions = [m for stage in tally.mentions.values() for m in stage]
    demo = [r["distance"] for r in rows if r["metric"] == "demographic_tvd"]
    risk = [r["distance"] for r in rows if r["metric"] == "risk_factor_rate"]
    cats = [r["distance"] for r in rows if r["metric"] == "category_proportions"]
    return {
        "patients": len(personas),
        "notes": tally.notes,
        "multiplier": multiplier,
        "summary": {
            "max_demographic_tvd": max(demo, default=0.0),
            "max_risk_factor_error_points": max(risk, default=0.0),
            "max_category_proportion_error_points": max(cats, default=0.0),
            "mean_mentions_per_note": round(float(np.mean(mentions)), 3) if mentions else 0.0,
        },
        "rows": rows,
    }

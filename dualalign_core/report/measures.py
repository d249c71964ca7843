"""Every number the report shows, as one JSON-ready dict computed from a run directory."""

from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from dualalign_core.fidelity import demographic_rows, risk_rows
from dualalign_core.filters.plan_adherence import adherence, terms_verbatim
from dualalign_core.records import Note
from dualalign_core.report import longitudinal
from dualalign_core.run.view import RunView
from dualalign_core.text import diversity

TEMPORAL_FILTERS = ("temporal_coherence", "temporal_regression")


def _share(counter: Counter, keys: Iterable[str]) -> dict[str, float]:
    keys = list(keys)
    total = sum(counter[k] for k in keys)
    return {k: round(counter[k] / total, 4) if total else 0.0 for k in keys}


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 4) if len(values) else None


def collect(view: RunView, *, embeddings: bool = True) -> dict[str, Any]:
    """Compute the report's metrics (see the section builders below)."""
    m = view.manifest
    d = view.disease
    labels = list(d.labels) if d else sorted({lb.label for lb in view.labels} - {"none"})
    negative = d.negative_label if d else "none"
    stages = list(d.stages) if d else sorted({p.stage for p in view.plans.values()})
    out: dict[str, Any] = {
        "run": _run_section(view),
        "labels_order": labels,
        "negative_label": negative,
        "stages": stages,
        "stage_titles": {s: (d.stage_title(s) if d else s) for s in stages},
        "counts": _counts(view),
    }
    out["demographics"], out["risk_factors"] = _persona_sections(view)
    out["notes"] = _notes_section(view, stages)
    out["categories"], out["mentions"] = _category_sections(view, stages, labels, negative)
    out["adherence"] = _adherence(view, stages, negative)
    out["temporal"] = _temporal(view, stages)
    out["longitudinal"] = longitudinal.collect(view)
    out["diversity"] = _diversity(view, embeddings)
    out["rejections"] = _rejections(view)
    out["label_distribution"] = _label_distribution(view, [*labels, negative], negative)
    out["agreement"] = _agreement(view, [*labels, negative])
    out["usage"] = _usage(view)
    out["provenance"] = {
        "plugins": m.get("plugins", []),
        "components": m.get("components", {}),
        "filters": m.get("filters", []),
        "disease": m.get("disease", {}),
        "core_version": m.get("dualalign_core_version"),
    }
    return out


def _run_section(view: RunView) -> dict[str, Any]:
    m = view.manifest
    d = view.disease
    return {
        "run_id": m.get("run_id"),
        "name": m.get("name"),
        "status": m.get("status"),
        "seed": m.get("seed"),
        "started_at": m.get("started_at"),
        "finished_at": m.get("finished_at"),
        "disease": d.title if d else m.get("disease", {}).get("name"),
        "disease_version": m.get("disease", {}).get("version"),
        "multiplier": m.get("config", {}).get("trajectory", {}).get("multiplier"),
        "pack_found": d is not None,
    }


def _counts(view: RunView) -> dict[str, int]:
    status = Counter(view.status.values())
    return {
        "patients": len(view.personas),
        "plans": len(view.plans),
        "notes": len(view.notes),
        "accepted": status.get("accepted", 0),
        "rejected": status.get("rejected", 0),
        "sentences": sum(len(v) for v in view.sentences.values()),
        "labels": len(view.labels),
        "ledger": view.ledger_size(),
    }


def _persona_sections(view: RunView) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    personas = list(view.personas.values())
    d = view.disease
    if d is not None and personas:
        demo = demographic_rows(d, [p.demographics for p in personas])
        risk = risk_rows(d, personas)
        titles = {f["id"]: (f.get("title", f["id"]), f.get("group", "")) for f in d.risk_factors["factors"]}
    else:  # pack not installed here: fall back on the manifest's fidelity table
        rows = view.manifest.get("fidelity", {}).get("rows", [])
        demo = [r for r in rows if r["metric"] == "demographic_tvd"]
        risk = [r for r in rows if r["metric"] == "risk_factor_rate"]
        titles = {}
    demographics = [
        {
            "key": r["key"],
            "target": r["target"],
            "measured": r["measured"],
            "tvd": r["distance"],
            "single": " x " not in r["key"],
        }
        for r in demo
    ]
    risks = [
        {
            "id": r["key"],
            "title": titles.get(r["key"], (r["key"], ""))[0],
            "group": titles.get(r["key"], ("", ""))[1],
            "target": r["target"],
            "measured": r["measured"],
            "error_points": r["distance"],
        }
        for r in risk
    ]
    return demographics, risks


def _year_bin(years: float, horizon: int) -> int:
    return min(int(math.floor(years)), max(horizon - 1, 0))


def _notes_section(view: RunView, stages: list[str]) -> dict[str, Any]:
    d = view.disease
    plans = list(view.plans.values())
    accepted_ids = {n.plan_id for n in view.accepted}
    per_planned = Counter(p.persona_id for p in plans)
    per_accepted = Counter(p.persona_id for p in plans if p.id in accepted_ids)
    horizon = (
        int(d.schedule.get("years_before_diagnosis", 10))
        if d
        else int(math.ceil(max((p.years_before_diagnosis for p in plans), default=1)))
    )
    types = list(d.schedule["note_types"]["types"]) if d else sorted({p.note_type for p in plans})
    stage_n = Counter(p.stage for p in plans)
    by_type: dict[str, dict[str, Any]] = {}
    for t in types:
        target = None
        if d and plans:
            by_stage = d.schedule["note_types"].get("by_stage", {})
            target = round(sum(stage_n[s] / len(plans) * by_stage.get(s, {}).get(t, 0.0) for s in stage_n), 4)
        by_type[t] = {
            "title": d.note_type_title(t) if d else t,
            "target_share": target,
            "planned": sum(1 for p in plans if p.note_type == t),
            "accepted": sum(1 for p in plans if p.note_type == t and p.id in accepted_ids),
        }
    by_year: dict[str, dict[str, int]] = {}
    for y in range(horizon - 1, -1, -1):
        by_year[f"{y}-{y + 1}"] = {s: 0 for s in stages}
    for p in plans:
        y = _year_bin(p.years_before_diagnosis, horizon)
        by_year.setdefault(f"{y}-{y + 1}", {s: 0 for s in stages})[p.stage] = (
            by_year.get(f"{y}-{y + 1}", {}).get(p.stage, 0) + 1
        )
    windows = (
        [{"stage": s["id"], "from": s["from_years"], "to": s["to_years"]} for s in d.schedule.get("stages", [])]
        if d
        else []
    )
    persona_ids = list(view.personas)[:40]
    timeline = [
        {
            "patient": i,
            "persona_id": pid,
            "years": round(p.years_before_diagnosis, 3),
            "stage": p.stage,
            "accepted": p.id in accepted_ids,
        }
        for i, pid in enumerate(persona_ids)
        for p in plans
        if p.persona_id == pid
    ]
    target_median = d.schedule["notes_per_patient"]["median"] if d else None
    return {
        "per_patient_planned": sorted(per_planned.values()),
        "per_patient_accepted": sorted(per_accepted.get(pid, 0) for pid in view.personas),
        "median_planned": float(np.median(list(per_planned.values()))) if per_planned else 0.0,
        "target_median": target_median,
        "max_notes_per_patient": view.manifest.get("config", {}).get("run", {}).get("max_notes_per_patient"),
        "by_type": by_type,
        "by_year": by_year,
        "stage_windows": windows,
        "timeline": timeline,
        "timeline_patients": len(persona_ids),
    }


def _note_labels(view: RunView, note: Note, negative: str) -> list[str]:
    """Positive labels the primary annotator found in a note, one per labelled sentence."""
    labs = view.primary_labels
    return [labs[s.id].label for s in view.sentences.get(note.id, ()) if s.id in labs and labs[s.id].label != negative]


def _category_sections(
    view: RunView, stages: list[str], labels: list[str], negative: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    d = view.disease
    mult = float(view.manifest.get("config", {}).get("trajectory", {}).get("multiplier", 1.0) or 1.0)
    plans_by_stage: dict[str, list] = defaultdict(list)
    for p in view.plans.values():
        plans_by_stage[p.stage].append(p)
    found_by_stage: dict[str, list[list[str]]] = defaultdict(list)
    for n in view.accepted:
        plan = view.plans.get(n.plan_id)
        if plan:
            found_by_stage[plan.stage].append(_note_labels(view, n, negative))
    cats, mentions = {}, {}
    for s in stages:
        planned = Counter(t.label for p in plans_by_stage[s] for t in p.required_terms)
        found = Counter(lb for note in found_by_stage[s] for lb in note)
        target = d.schedule["category_proportions"]["by_stage"].get(s, {}) if d else {}
        cats[s] = {
            lb: {
                "target": round(target.get(lb, 0.0), 4) if d else None,
                "planned": _share(planned, labels)[lb],
                "found": _share(found, labels)[lb],
            }
            for lb in labels
        }
        cats[s]["_n"] = {"planned": sum(planned.values()), "found": sum(found.values())}
        mt = d.schedule["mentions_per_note"]["by_stage"].get(s) if d else None
        mentions[s] = {
            "target": round(mt * mult, 3) if mt is not None else None,
            "planned_mean": _mean([p.n_mentions for p in plans_by_stage[s]]),
            "found_mean": _mean([len(x) for x in found_by_stage[s]]),
            "planned_notes": len(plans_by_stage[s]),
            "accepted_notes": len(found_by_stage[s]),
        }
    return cats, mentions


def _adherence(view: RunView, stages: list[str], negative: str) -> dict[str, Any]:
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for n in view.accepted:
        plan = view.plans.get(n.plan_id)
        if plan is None or not plan.required_terms:
            continue
        recall = adherence(plan, _note_labels(view, n, negative), negative).recall  # the filter's definition
        rows[plan.stage].append((recall, terms_verbatim(plan, n.text) or 0.0))
    allrows = [r for rs in rows.values() for r in rs]

    def agg(rs: list[tuple[float, float]]) -> dict[str, Any]:
        return {
            "notes": len(rs),
            "categories_realised": _mean([r[0] for r in rs]),
            "terms_verbatim": _mean([r[1] for r in rs]),
            "fully_realised": _mean([1.0 if r[0] == 1.0 else 0.0 for r in rs]),
        }

    ledger = Counter(r["stage"] for r in view.rejections() if r["filter"] == "plan_adherence")
    return {
        "overall": agg(allrows),
        "by_stage": {s: agg(rows[s]) for s in stages if rows[s]},
        "rejections": sum(ledger.values()),
        "annotator": view.primary_annotator,
    }


def _temporal(view: RunView, stages: list[str]) -> dict[str, Any]:
    rows = [r for r in view.rejections() if r["filter"] in TEMPORAL_FILTERS]
    by_stage: Counter = Counter()
    for r in rows:
        plan = view.plans.get(r["plan_id"] or "")
        by_stage[plan.stage if plan else "unknown"] += 1
    configured = [f["name"] for f in view.manifest.get("filters", []) if f.get("name") in TEMPORAL_FILTERS]
    return {
        "configured": configured,
        "violations": len(rows),
        "by_filter": dict(Counter(r["filter"] for r in rows)),
        "by_stage": {s: by_stage.get(s, 0) for s in [*stages, "unknown"] if by_stage.get(s) or s != "unknown"},
        "final": sum(1 for r in rows if r["final"]),
        "examples": [{k: r.get(k) for k in ("record_id", "filter", "reason", "value", "threshold")} for r in rows[:15]],
    }


def _strata(view: RunView) -> dict[str, dict[str, list[str]]]:
    """demographic variable -> category -> persona ids."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for p in view.personas.values():
        for var, cat in p.demographics.items():
            out[var][cat].append(p.id)
    return {v: dict(sorted(c.items())) for v, c in out.items()}


def _diversity(view: RunView, embeddings: bool) -> dict[str, Any]:
    notes = view.accepted
    ids = diversity.sample([n.id for n in notes])
    chosen = set(ids)
    sampled = [n for n in notes if n.id in chosen]
    emb_note = "embedding similarity not requested (--no-embeddings)"
    vectors: dict[str, np.ndarray] = {}
    if embeddings and len(sampled) >= 2:
        embedder, emb_note = diversity.load_embedder()
        if embedder is not None:
            vecs = embedder([n.text for n in sampled])
            vectors = {n.id: v for n, v in zip(sampled, vecs, strict=True)}

    def block(group: list[Note]) -> dict[str, Any]:
        texts = [n.text for n in group]
        in_sample = [n for n in group if n.id in chosen]
        sim = None
        if vectors:
            vs = [vectors[n.id] for n in in_sample if n.id in vectors]
            sim = diversity.mean_pairwise_similarity(np.array(vs)) if len(vs) >= 2 else None
        return {
            "notes": len(group),
            "distinct_1": round(diversity.distinct_n(texts, 1), 4),
            "distinct_2": round(diversity.distinct_n(texts, 2), 4),
            "distinct_3": round(diversity.distinct_n(texts, 3), 4),
            "near_duplicate_rate": round(diversity.near_duplicate_rate([n.text for n in in_sample]), 4),
            "embedding_similarity": round(sim, 4) if sim is not None else None,
        }

    strata: dict[str, dict[str, Any]] = {}
    for var, cats in _strata(view).items():
        strata[var] = {}
        for cat, pids in cats.items():
            members = set(pids)
            strata[var][cat] = block([n for n in notes if n.persona_id in members])
    return {
        "overall": block(notes),
        "strata": strata,
        "embedding_note": emb_note,
        "pairwise_sample": len(sampled),
        "near_duplicate_threshold": 0.8,
        "shingle_size": 3,
    }


def _rejections(view: RunView) -> dict[str, Any]:
    rows = list(view.rejections())
    by_filter: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"final": 0, "earlier_attempts": 0})
    for r in rows:
        by_filter[(r["filter"], r["stage"])]["final" if r["final"] else "earlier_attempts"] += 1
    strata = _strata(view)
    planned = Counter(p.persona_id for p in view.plans.values())
    per_persona = Counter(r["persona_id"] for r in rows)
    rejected_notes = Counter(view.notes[nid].persona_id for nid, s in view.status.items() if s == "rejected")
    by_stratum: dict[str, dict[str, dict[str, float]]] = {
        var: {
            cat: {
                "planned": sum(planned[p] for p in pids),
                "ledger": sum(per_persona[p] for p in pids),
                "rejected_notes": sum(rejected_notes[p] for p in pids),
            }
            for cat, pids in cats.items()
        }
        for var, cats in strata.items()
    }
    for cats in by_stratum.values():
        for c in cats.values():
            c["per_100_planned"] = round(100 * c["ledger"] / c["planned"], 2) if c["planned"] else 0.0
    return {
        "total": len(rows),
        "by_filter": [
            {"filter": f, "stage": s, **v, "total": v["final"] + v["earlier_attempts"]}
            for (f, s), v in sorted(by_filter.items())
        ],
        "by_stratum": by_stratum,
        "reasons": dict(Counter(f"{r['filter']}: {r['reason']}" for r in rows).most_common(12)),
    }


def _label_distribution(view: RunView, all_labels: list[str], negative: str) -> dict[str, Any]:
    accepted = {n.id for n in view.accepted}
    labs = [lb for lb in view.primary_labels.values() if lb.note_id in accepted]
    c = Counter(lb.label for lb in labs)
    keys = [*all_labels, *sorted(set(c) - set(all_labels))]
    return {
        "annotator": view.primary_annotator,
        "counts": {k: c.get(k, 0) for k in keys},
        "sentences": len(labs),
        "positive": sum(1 for lb in labs if lb.label != negative),
    }


def _agreement(view: RunView, all_labels: list[str]) -> dict[str, Any] | None:
    if len(view.annotators) < 2:
        return None
    try:
        from dualalign_core.annotate.agreement import agreement
    except ImportError:  # pragma: no cover - annotation package absent
        return {"note": "agreement module unavailable"}
    by: dict[str, list] = defaultdict(list)
    for lb in view.labels:
        by[lb.annotator].append(lb)
    a, b = view.annotators[:2]
    rep = agreement(by[a], by[b], labels=all_labels)
    return {
        "annotator_a": a,
        "annotator_b": b,
        "n": rep.n,
        "observed": round(rep.observed, 4),
        "kappa": round(rep.kappa, 4),
        "binary_kappa": round(rep.binary_kappa, 4),
        "per_label": {k: round(v, 4) for k, v in rep.per_label.items()},
        "others": view.annotators[2:],
    }


def _usage(view: RunView) -> dict[str, Any]:
    m = view.manifest
    t = view.unit_totals()
    tin, tout, cost, attempts, units = (
        t[k] for k in ("input_tokens", "output_tokens", "cost_usd", "regenerations", "units")
    )
    seconds = None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        seconds = (datetime.fromisoformat(m["finished_at"]) - datetime.fromisoformat(m["started_at"])).total_seconds()
    accepted = len(view.accepted)
    return {
        "input_tokens": tin,
        "output_tokens": tout,
        "cost_usd": round(cost, 6),
        "units": units,
        "regenerations": attempts,
        "wall_seconds": seconds,
        "throughput": m.get("throughput") or {},
        "notes_per_minute": round(accepted / seconds * 60, 2) if seconds else None,
        "cost_per_accepted_note": round(cost / accepted, 6) if accepted else None,
        "tokens_per_note": round((tin + tout) / units, 1) if units else None,
        "limits": m.get("config", {}).get("limits", {}),
        "stop_reason": m.get("stop_reason"),
        "resumes": m.get("resumes", 0),
        "llm": m.get("llm") or {},
    }

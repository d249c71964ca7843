"""The report's Longitudinal numbers: contradictions by kind, copy-forward between consecutive notes, score
trajectories, and one patient's timeline.

Contradictions come from the rejection ledger: the ``consistency`` filter's reasons (``"<kind>: <detail>"``,
several joined by ``"; "``) and ``temporal_regression`` as the symptom-regression kind. The checked notes are
the accepted notes whose plan carries a timeline context.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from dualalign_core.errors import BadInput
from dualalign_core.history.similarity import copy_forward
from dualalign_core.records import Note
from dualalign_core.run.view import RunView

CONSISTENCY = "consistency"
COPY_FORWARD = "copy_forward"
REGRESSION = "temporal_regression"
REGRESSION_KIND = "symptom_regression"
KINDS = ("medication", "dose", "score", "social", REGRESSION_KIND)
BAND_OPTIONS = ("threshold", "band", "max_similarity")
"""Option names of the copy_forward filter read as its band, first found wins."""
QUANTILES = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
BIN_EDGES = tuple(round(i / 20, 2) for i in range(21))

_KIND = re.compile(r"^\s*([a-z][a-z_]*)\s*:")


def reason_kinds(reason: str) -> list[str]:
    """The kinds a consistency reason names: each ``"<kind>: ..."`` part (parts joined by ``"; "``)."""
    kinds = []
    for part in reason.split(";"):
        found = _KIND.match(part)
        if found and found.group(1) not in kinds:
            kinds.append(found.group(1))
    return kinds


def _ordered(view: RunView) -> dict[str, list[Note]]:
    """persona id -> accepted notes, oldest first (most years before diagnosis), then plan order."""
    out: dict[str, list[Note]] = defaultdict(list)
    for n in view.accepted:
        if n.plan_id in view.plans:
            out[n.persona_id].append(n)
    for notes in out.values():
        notes.sort(key=lambda n: (-view.plans[n.plan_id].years_before_diagnosis, view.plans[n.plan_id].index))
    return dict(sorted(out.items()))


def collect(view: RunView) -> dict[str, Any]:
    """Every Longitudinal number (JSON-ready); ``timeline`` False for a run planned without timelines."""
    notes = _ordered(view)
    ledger = list(view.rejections())
    return {
        "timeline": bool(view.timelines),
        "contradictions": contradictions(view, ledger),
        "copy_forward": copy_forward_section(view, notes, ledger),
        "scores": score_trajectories(view),
        "patient": patient_timeline(view, notes),
    }


def _filters_ran(view: RunView, ledger: list[dict[str, Any]]) -> set[str]:
    pipeline = view.store.get_meta("pipeline") or {}
    names = set(pipeline.get("filters") or {})
    names |= {f.get("name") for f in view.manifest.get("filters", []) if f.get("name")}
    return names | {r["filter"] for r in ledger}  # a filter with ledger entries ran


def contradictions(view: RunView, ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: ledger entries (every attempt, warn-only ones apart), notes rejected for it, accepted checked
    notes still carrying it, and its rate among the checked notes."""
    checked = {n.id for n in view.accepted if (p := view.plans.get(n.plan_id)) is not None and p.context is not None}
    ran = _filters_ran(view, ledger)
    entries: Counter = Counter()
    warn: Counter = Counter()
    rejected: dict[str, set[str]] = defaultdict(set)
    flagged: dict[str, set[str]] = defaultdict(set)
    for r in ledger:
        if r["filter"] == CONSISTENCY:
            kinds = reason_kinds(r.get("reason", "")) or ["other"]
        elif r["filter"] == REGRESSION:
            kinds = [REGRESSION_KIND]
        else:
            continue
        for kind in kinds:
            entries[kind] += 1
            enforced = r.get("enforced", True)
            warn[kind] += 0 if enforced else 1
            if not r["final"]:
                continue
            if enforced:
                rejected[kind].add(r["note_id"])
            elif r["note_id"] in checked:
                flagged[kind].add(r["note_id"])
    kinds = [*KINDS, *sorted(set(entries) - set(KINDS))]
    rows = {}
    for kind in kinds:
        source = REGRESSION if kind == REGRESSION_KIND else CONSISTENCY
        rows[kind] = {
            "filter": source,
            "checked": source in ran,
            "ledger": entries[kind],
            "warn_only": warn[kind],
            "rejected_notes": len(rejected[kind]),
            "accepted_notes": len(flagged[kind]),
            "rate": round(len(flagged[kind]) / len(checked), 4) if checked and source in ran else None,
        }
    anywhere = set().union(*flagged.values()) if flagged else set()
    return {
        "checked": len(checked),
        "filters": {name: name in ran for name in (CONSISTENCY, REGRESSION)},
        "kinds": rows,
        "any_rate": round(len(anywhere) / len(checked), 4) if checked else None,
    }


def _band_of(options: dict[str, Any]) -> float | None:
    for key in BAND_OPTIONS:
        value = options.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def copy_forward_band(view: RunView, ledger: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    """The band the copy_forward filter uses: the run's resolved pipeline, else the threshold its ledger entries
    carry, else the registered filter's default; ``(None, None)`` when none of them says."""
    pipeline = view.store.get_meta("pipeline") or {}
    entry = (pipeline.get("filters") or {}).get(COPY_FORWARD)
    if entry:
        band = _band_of(entry.get("options") or {})
        if band is not None:
            return band, "the run's resolved pipeline"
    thresholds = sorted({r["threshold"] for r in ledger if r["filter"] == COPY_FORWARD and r.get("threshold")})
    if thresholds:
        return float(thresholds[-1]), "the copy_forward ledger entries"
    from dualalign_core.plugins import get_registry

    try:
        cls = get_registry().get("filter", COPY_FORWARD)
    except BadInput:
        return None, None
    props = (getattr(cls, "options_schema", None) or {}).get("properties", {})
    band = _band_of({k: p.get("default") for k, p in props.items() if isinstance(p, dict)})
    return (band, "the copy_forward filter's default") if band is not None else (None, None)


def copy_forward_section(view: RunView, notes: dict[str, list[Note]], ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """Similarity of each accepted note to the patient's previous accepted note: quantiles and a histogram."""
    values = [copy_forward(a.text, b.text) for ns in notes.values() for a, b in zip(ns, ns[1:], strict=False)]
    band, source = copy_forward_band(view, ledger)
    counts, _ = np.histogram(values, bins=BIN_EDGES) if values else (np.zeros(len(BIN_EDGES) - 1), None)
    flagged = [r for r in ledger if r["filter"] == COPY_FORWARD]
    return {
        "pairs": len(values),
        "mean": round(float(np.mean(values)), 4) if values else None,
        "quantiles": {f"p{round(q * 100)}": round(float(np.quantile(values, q)), 4) for q in QUANTILES}
        if values
        else {},
        "histogram": {"edges": list(BIN_EDGES), "counts": [int(c) for c in counts]},
        "band": band,
        "band_source": source,
        "above_band": sum(1 for v in values if band is not None and v >= band),
        "ledger": len(flagged),
        "ledger_enforced": sum(1 for r in flagged if r.get("enforced", True)),
    }


def score_trajectories(view: RunView) -> dict[str, Any]:
    """Per score: the planned values across patients, mean per whole year before diagnosis (oldest first)."""
    by: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    titles: dict[str, tuple[str, float | None]] = {}
    for t in view.timelines.values():
        for m in t.measurements:
            if m.kind == "score":
                by[m.id][int(math.floor(m.years_before_diagnosis))].append(m.value)
                titles.setdefault(m.id, (m.title, m.maximum))
    out = {}
    for sid in sorted(by):
        bins = by[sid]
        out[sid] = {
            "title": titles[sid][0],
            "maximum": titles[sid][1],
            "values": sum(len(v) for v in bins.values()),
            "patients": sum(1 for t in view.timelines.values() if any(m.id == sid for m in t.measurements)),
            "bins": [
                {
                    "from": y,
                    "to": y + 1,
                    "mean": round(float(np.mean(bins[y])), 3),
                    "sd": round(float(np.std(bins[y])), 3),
                    "n": len(bins[y]),
                }
                for y in sorted(bins, reverse=True)
            ],
        }
    return out


def patient_timeline(view: RunView, notes: dict[str, list[Note]]) -> dict[str, Any] | None:
    """The patient with the most accepted notes (ties: the smallest id) on one time axis, note texts included."""
    candidates = [pid for pid in view.timelines if notes.get(pid)]
    if not candidates:
        return None
    pid = min(candidates, key=lambda p: (-len(notes[p]), p))
    t = view.timelines[pid]
    d = view.disease
    authors = dict(t.note_authors)
    roles = {c.id: c.role for c in t.clinicians}
    persona = view.personas.get(pid)
    rows = []
    for n in notes[pid]:
        plan = view.plans[n.plan_id]
        rows.append(
            {
                "id": n.id,
                "years": round(plan.years_before_diagnosis, 3),
                "note_type": d.note_type_title(plan.note_type) if d else plan.note_type,
                "stage": plan.stage,
                "author": roles.get(authors.get(plan.id, ""), ""),
                "text": n.text,
            }
        )
    shown = {r["id"] for r in rows}
    return {
        "persona_id": pid,
        "age": persona.age if persona else None,
        "notes": rows,
        "medications": [
            {
                "drug": m.drug,
                "indication": m.indication,
                "start": m.start,
                "stop": m.stop,
                "stop_reason": m.stop_reason,
                "doses": [{"years": c.years_before_diagnosis, "dose": c.dose, "reason": c.reason} for c in m.doses],
            }
            for m in t.medications
        ],
        "events": [{"years": e.years_before_diagnosis, "title": e.title, "detail": e.detail} for e in t.events],
        "social": [{"years": s.years_before_diagnosis, "dimension": s.dimension, "text": s.text} for s in t.social],
        "scores": [
            {"id": m.id, "title": m.title, "years": m.years_before_diagnosis, "value": m.value, "maximum": m.maximum}
            for m in t.measurements
            if m.kind == "score" and (m.note_id is None or m.note_id in shown)
        ],
    }


__all__ = [
    "KINDS",
    "collect",
    "contradictions",
    "copy_forward_band",
    "copy_forward_section",
    "patient_timeline",
    "reason_kinds",
    "score_trajectories",
]

"""Utility: the headline of a ``dualalign ablate`` result (gold only vs gold + synthetic), linked, not rerun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dualalign_core.score.grades import Measure
from dualalign_core.score.thresholds import measure
from dualalign_core.textio import read_json

NAME = "utility.gold_synthetic_gain"


def find_results(run_dir: Path, given: Path | None) -> Path | None:
    """``--ablation`` (a results.json or its directory), else the ablation this run was made for
    (``OUT/runs/NAME/`` beside ``OUT/results.json``)."""
    if given is not None:
        return given / "results.json" if given.is_dir() else given
    candidate = run_dir.resolve().parent.parent / "results.json"
    return candidate if run_dir.resolve().parent.name == "runs" and candidate.is_file() else None


def utility_measure(run_dir: Path, given: Path | None) -> Measure:
    path = find_results(run_dir, given)
    if path is None:
        return measure(NAME, None, note="no ablation results (dualalign ablate; pass --ablation RESULTS)")
    doc = read_json(path, what="ablation results")
    rows = doc.get("rows", []) if isinstance(doc, dict) else []
    per_task: dict[str, dict[str, Any]] = {}
    for task in sorted({r.get("task") for r in rows}):
        mine = [r for r in rows if r.get("task") == task]
        gold = next((r for r in mine if r.get("data") == "gold"), None)
        mixes = [r for r in mine if r.get("data") == "gold+synthetic"]  # DualAlign's arm first
        mixed = next((r for r in mixes if r.get("synthetic") == "dualalign"), mixes[0] if mixes else None)
        if gold and mixed:
            per_task[str(task)] = {
                "gold": gold["macro_f1"],
                "gold+synthetic": mixed["macro_f1"],
                "gain": round(mixed["macro_f1"] - gold["macro_f1"], 4),
                "arm": mixed.get("arm"),
            }
    detail = {"results": str(path), "tasks": per_task, "seed": doc.get("seed") if isinstance(doc, dict) else None}
    if not per_task:
        return measure(NAME, None, detail, note="the ablation has no gold-only and gold + synthetic pair")
    return measure(NAME, min(t["gain"] for t in per_task.values()), detail)

"""Semantic checks of a pack's history table beyond its schema: every reference resolves."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dualalign_core.errors import BadInput


def _sources(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, source key) of every ``*source`` field."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k.endswith("source") and isinstance(v, str):
                    yield f"{path}.{k}".lstrip("."), v
                elif k != "sources":
                    yield from walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}[{i}]")

    yield from walk(doc, "")


def check_history(doc: Mapping[str, Any], path: Path, manifest: Mapping[str, Any], loaded: Mapping[str, Any]) -> None:
    """Raise :class:`BadInput` naming the file and field of the first reference that does not resolve."""
    file = str(path)

    def bad(message: str, field: str) -> BadInput:
        return BadInput(message, file=file, field=field)

    for field, key in _sources(doc):
        if key not in doc["sources"]:
            raise bad(f"unknown source {key!r}", field)
    stages = set(manifest["stages"])
    note_types = set(loaded["schedule"]["note_types"]["types"])
    factors = {f["id"] for f in loaded["risk_factors"].get("factors", ())}
    problems = {p["id"] for p in doc.get("problems", ())}
    terms = {t["id"] for t in loaded["lexicon"].get("terms", ())}
    for cond in doc.get("conditions", {}):
        if cond not in factors | problems:
            raise bad(f"condition {cond!r} is neither a risk factor of the pack nor a problem", f"conditions.{cond}")
    for kind in ("problems", "events", "vitals", "scores"):
        for i, item in enumerate(doc.get(kind, ())):
            for key in (
                "onset_per_year_by_stage",
                "rate_per_year_by_stage",
                "drift_per_year_by_stage",
                "mean_by_stage",
            ):
                for stage in item.get(key, {}):
                    if stage not in stages:
                        raise bad(f"unknown stage {stage!r}", f"{kind}[{i}].{key}.{stage}")
            if kind == "scores":
                missing = stages - set(item["mean_by_stage"])
                if missing:
                    raise bad(f"no mean for stage {sorted(missing)[0]!r}", f"{kind}[{i}].mean_by_stage")
            for nt in item.get("given_at", {}):
                if nt not in note_types:
                    raise bad(f"unknown note type {nt!r}", f"{kind}[{i}].given_at.{nt}")
            for j, pattern in enumerate(item.get("patterns", ())):
                _regex(pattern, bad, f"{kind}[{i}].patterns[{j}]")
            if "label" in item and item["label"] not in (*manifest["labels"], manifest["negative_label"]):
                raise bad(f"unknown label {item['label']!r}", f"{kind}[{i}].label")
    for i, dim in enumerate(doc.get("social", ())):
        where, states = f"social[{i}]", set(dim["states"])
        for sid, state in dim["states"].items():
            for j, pattern in enumerate(state["asserts"]):
                _regex(pattern, bad, f"{where}.states.{sid}.asserts[{j}]")
        refs = [("initial", s) for s in dim["initial"]]
        refs += [("initial_if_risk_factor", s) for s in dim.get("initial_if_risk_factor", {}).values()]
        refs += [("implied_by_terms", s) for s in dim.get("implied_by_terms", {}).values()]
        refs += [("requires", s) for s in dim.get("requires", {})]
        for stage, moves in dim.get("transitions_per_year_by_stage", {}).items():
            if stage not in stages:
                raise bad(f"unknown stage {stage!r}", f"{where}.transitions_per_year_by_stage.{stage}")
            refs += [(f"transitions_per_year_by_stage.{stage}", s) for s in moves]
            refs += [(f"transitions_per_year_by_stage.{stage}", s) for m in moves.values() for s in m]
        for field, state in refs:
            if state not in states:
                raise bad(f"unknown state {state!r}", f"{where}.{field}")
        for rf in dim.get("initial_if_risk_factor", {}):
            if rf not in factors:
                raise bad(f"unknown risk factor {rf!r}", f"{where}.initial_if_risk_factor.{rf}")
        for term in dim.get("implied_by_terms", {}):
            if term not in terms:
                raise bad(f"unknown lexicon term {term!r}", f"{where}.implied_by_terms.{term}")
    for nt in {**doc.get("clinicians", {}).get("roles", {}), **doc.get("clinicians", {}).get("per_role", {})}:
        if nt not in note_types:
            raise bad(f"unknown note type {nt!r}", f"clinicians.roles.{nt}")


def _regex(pattern: str, bad: Any, field: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise bad(f"invalid regular expression: {exc}", field) from None


__all__ = ["check_history"]

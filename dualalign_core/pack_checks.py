"""The disease-pack checks a JSON Schema cannot express: the one definition of a valid pack.

Every number cites a known source, probabilities sum to 1 per condition, conditioning variables exist,
lexicon labels, stages and applicability match the pack, stage windows tile the years before diagnosis, and
the manifest's precedence, titles and descriptions name declared labels, stages, note types and variables.
Each check raises :class:`BadInput` naming the file and the field; packs' own tests call these and add only
what is specific to their disease.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dualalign_core.errors import BadInput
from dualalign_core.plan_fields import PLAN_FIELDS

TOLERANCE = 1e-3


def _bad(path: Path | str, field: str, message: str) -> BadInput:
    return BadInput(message, file=str(path), field=field)


def _check_source(doc: Mapping[str, Any], item: Mapping[str, Any], path: Path, field: str) -> None:
    src = item.get("source")
    if src is None:
        raise _bad(path, field, "number without a source")
    if src not in doc.get("sources", {}):
        raise _bad(path, f"{field}.source", f"unknown source {src!r}")
    der = item.get("derivation")
    if der is not None and der not in doc.get("derivations", {}):
        raise _bad(path, f"{field}.derivation", f"unknown derivation {der!r}")


def _is_source_key(key: str) -> bool:
    return key == "source" or key.endswith("_source")


def check_sources(doc: Mapping[str, Any], path: Path) -> None:
    """Every number sits in an object that (or whose ancestor) names a source, or beside a ``<key>_source``;
    every source and derivation it names exists; every derivation's inputs are sources; an assumption
    explains itself in its ``note``."""
    sources, derivations = doc.get("sources", {}), doc.get("derivations", {})
    for sid, src in sources.items():
        if src.get("kind") == "assumption" and not str(src.get("note", "")).strip():
            raise _bad(path, f"sources.{sid}.note", "an assumption needs a rationale note")
    for did, der in derivations.items():
        for j, src in enumerate(der.get("inputs", ())):
            if src not in sources:
                raise _bad(path, f"derivations.{did}.inputs[{j}]", f"unknown source {src!r}")

    def visit(node: Any, where: str, sourced: bool) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if _is_source_key(key) and value not in sources:
                    raise _bad(path, f"{where}{key}", f"unknown source {value!r}")
                if key == "derivation" and value not in derivations:
                    raise _bad(path, f"{where}{key}", f"unknown derivation {value!r}")
            here = sourced or any(_is_source_key(k) for k in node)
            for key, value in node.items():
                if not where and key in ("sources", "derivations"):
                    continue
                if (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and not (here or f"{key}_source" in node)
                ):
                    raise _bad(path, f"{where}{key}", "number without a source")
                visit(value, f"{where}{key}.", here)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                if isinstance(value, (int, float)) and not isinstance(value, bool) and not sourced:
                    raise _bad(path, f"{where.rstrip('.')}[{i}]", "number without a source")
                visit(value, f"{where.rstrip('.')}[{i}].", sourced)

    visit(doc, "", False)


def check_demographics(doc: Mapping[str, Any], path: Path) -> None:
    check_sources(doc, path)
    variables: dict[str, list[str]] = doc["variables"]
    defined: set[str] = set()
    for i, factor in enumerate(doc["factors"]):
        where = f"factors[{i}]"
        for var in (*factor["variables"], *factor.get("given", [])):
            if var not in variables:
                raise _bad(path, where, f"unknown variable {var!r}")
        for var in factor["variables"]:
            if var in defined:
                raise _bad(path, f"{where}.variables", f"{var!r} is already sampled by an earlier factor")
        seen_rows: set[tuple] = set()
        for var in factor.get("given", []):
            if var not in defined:
                raise _bad(path, f"{where}.given", f"{var!r} must be sampled by an earlier factor")
        sums: dict[tuple, float] = {}
        for j, row in enumerate(factor["rows"]):
            rw = f"{where}.rows[{j}]"
            _check_source(doc, row, path, rw)
            if set(row["values"]) != set(factor["variables"]):
                raise _bad(path, f"{rw}.values", f"must give exactly {factor['variables']}")
            for var, value in {**row["values"], **row.get("given", {})}.items():
                if value not in variables.get(var, []):
                    raise _bad(path, rw, f"{value!r} is not a category of {var!r}")
            if set(row.get("given", {})) != set(factor.get("given", [])):
                raise _bad(path, f"{rw}.given", f"must give exactly {factor.get('given', [])}")
            key = tuple(row.get("given", {}).get(g) for g in factor.get("given", []))
            cell = (key, tuple(row["values"][v] for v in factor["variables"]))
            if cell in seen_rows:
                raise _bad(path, rw, f"duplicate row {row['values']} given {row.get('given', {})}")
            seen_rows.add(cell)
            sums[key] = sums.get(key, 0.0) + row["p"]
        expected = list(itertools.product(*(variables[g] for g in factor.get("given", []))))
        for key in expected:
            total = sums.get(tuple(key), 0.0)
            if abs(total - 1.0) > TOLERANCE:
                cond = dict(zip(factor.get("given", []), key, strict=True))
                raise _bad(path, f"{where}.rows", f"probabilities sum to {total:.4f}, not 1, given {cond}")
        defined.update(factor["variables"])
    missing = set(variables) - defined
    if missing:
        raise _bad(path, "factors", f"variables never sampled: {sorted(missing)}")


def check_risk_factors(doc: Mapping[str, Any], path: Path, variables: Mapping[str, list[str]] | None) -> None:
    """``variables`` are the demographics' categories; ``None`` (a lone table) skips the checks needing them."""
    check_sources(doc, path)
    seen: set[str] = set()
    for i, factor in enumerate(doc["factors"]):
        where = f"factors[{i}]"
        if factor["id"] in seen:
            raise _bad(path, f"{where}.id", f"duplicate factor {factor['id']!r}")
        seen.add(factor["id"])
        if factor["group"] not in doc["groups"]:
            raise _bad(path, f"{where}.group", f"unknown group {factor['group']!r}")
        if "rate" in factor:
            _check_source(doc, factor, path, where)
            continue
        given = factor.get("given", [])
        if variables is None:
            for j, entry in enumerate(factor.get("rates", [])):
                _check_source(doc, entry, path, f"{where}.rates[{j}]")
            continue
        for var in given:
            if var not in variables:
                raise _bad(path, f"{where}.given", f"unknown demographic variable {var!r}")
        covered = set()
        for j, entry in enumerate(factor.get("rates", [])):
            _check_source(doc, entry, path, f"{where}.rates[{j}]")
            covered.add(tuple(entry["given"].get(v) for v in given))
        needed = set(itertools.product(*(variables[v] for v in given)))
        if needed - covered:
            raise _bad(path, f"{where}.rates", f"no rate for {sorted(needed - covered)[0]}")


def check_lexicon(
    doc: Mapping[str, Any],
    path: Path,
    labels: list[str] | None,
    stages: list[str] | None,
    variables: Mapping[str, list[str]] | None = None,
) -> None:
    """Unique ids and phrases, known domains, compilable cue patterns, and (in a pack) labels, stages and
    ``applies_to`` categories of the pack; ``None`` skips those."""
    check_sources(doc, path)
    for key in ("self_cause_terms", "reporter_cues"):
        for i, pattern in enumerate(doc.get(key, ())):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _bad(path, f"{key}[{i}]", f"not a regular expression: {exc}") from None
    ids: set[str] = set()
    owner: dict[str, str] = {}
    for i, term in enumerate(doc["terms"]):
        where = f"terms[{i}]"
        if term["id"] in ids:
            raise _bad(path, f"{where}.id", f"duplicate term id {term['id']!r}")
        ids.add(term["id"])
        mine: set[str] = set()
        for j, phrase in enumerate((term["term"], *term.get("variants", ()))):
            key = phrase.lower()
            other = owner.setdefault(key, term["id"])
            if other != term["id"] or key in mine:
                raise _bad(
                    path,
                    f"{where}." + (f"variants[{j - 1}]" if j else "term"),
                    f"phrase {phrase!r} is already a phrase of term {other!r}",
                )
            mine.add(key)
        for var, allowed in term.get("applies_to", {}).items():
            if variables is None:
                continue
            if var not in variables:
                raise _bad(path, f"{where}.applies_to.{var}", f"{var!r} is not a demographic variable")
            unknown = sorted(set(allowed) - set(variables[var]))
            if unknown:
                raise _bad(path, f"{where}.applies_to.{var}", f"{unknown[0]!r} is not a category of {var!r}")
        if labels is not None and term["label"] not in labels:
            raise _bad(path, f"{where}.label", f"{term['label']!r} is not a label of this disease")
        if stages is not None and term["earliest_stage"] not in stages:
            raise _bad(path, f"{where}.earliest_stage", f"{term['earliest_stage']!r} is not a stage")
        if "domains" in doc and term.get("domain") not in doc["domains"]:
            raise _bad(path, f"{where}.domain", f"{term.get('domain')!r} is not a domain")


def _check_windows(windows: list[Mapping[str, Any]], years: float, path: Path, where: str) -> None:
    edge = years
    for i, w in enumerate(windows):
        if abs(w["from_years"] - edge) > 1e-9 or w["to_years"] >= w["from_years"]:
            got = f"{w['from_years']}..{w['to_years']}"
            raise _bad(
                path,
                f"{where}[{i}]",
                f"windows must tile {years}..0 years in order without overlaps or "
                f"gaps (expected from_years {edge}, got {got})",
            )
        edge = w["to_years"]
    if abs(edge) > 1e-9:
        raise _bad(path, where, "the last window must end at 0 (diagnosis)")


def check_schedule(
    doc: Mapping[str, Any], path: Path, labels: list[str] | None = None, stages: list[str] | None = None
) -> None:
    """Windows tile the years before diagnosis, mixes sum to 1, note counts are ordered. A lone table
    (``labels``/``stages`` None) is checked against its own stage windows and labels."""
    check_sources(doc, path)
    years = doc["years_before_diagnosis"]
    windows = doc["stages"]
    if stages is None:
        stages = [w["id"] for w in windows]
        if len(set(stages)) != len(stages):
            raise _bad(path, "stages", "duplicate stage ids")
    if labels is None:
        labels = sorted({lb for mix in doc["category_proportions"]["by_stage"].values() for lb in mix})
    if [w["id"] for w in windows] != list(stages):
        raise _bad(path, "stages", f"stage windows must list {stages} in order")
    _check_windows(windows, years, path, "stages")
    _check_windows(doc["visit_weights_by_year"], years, path, "visit_weights_by_year")
    if not any(w["weight"] > 0 for w in doc["visit_weights_by_year"]):
        raise _bad(path, "visit_weights_by_year", "at least one window needs a weight above 0")
    npp = doc["notes_per_patient"]
    if npp["min"] > npp["max"]:
        raise _bad(path, "notes_per_patient.min", f"min ({npp['min']}) is greater than max ({npp['max']})")
    if not npp["min"] <= npp["median"] <= npp["max"]:
        raise _bad(path, "notes_per_patient.median", f"median ({npp['median']}) is outside min..max")
    types = doc["note_types"]["types"]
    for section in ("note_types", "mentions_per_note", "category_proportions"):
        by_stage = doc[section]["by_stage"]
        for stage in stages:
            if stage not in by_stage:
                raise _bad(path, f"{section}.by_stage", f"missing stage {stage!r}")
    for section in ("note_types", "category_proportions", "mentions_per_note"):
        extra = sorted(set(doc[section]["by_stage"]) - set(stages))
        if extra:
            raise _bad(path, f"{section}.by_stage.{extra[0]}", f"{extra[0]!r} is not a stage")
    for stage, mix in doc["note_types"]["by_stage"].items():
        if set(mix) - set(types):
            raise _bad(path, f"note_types.by_stage.{stage}", f"unknown note types {sorted(set(mix) - set(types))}")
        if abs(sum(mix.values()) - 1) > TOLERANCE:
            raise _bad(path, f"note_types.by_stage.{stage}", "proportions must sum to 1")
    for stage, mix in doc["category_proportions"]["by_stage"].items():
        if set(mix) - set(labels):
            raise _bad(path, f"category_proportions.by_stage.{stage}", "unknown labels")
        if abs(sum(mix.values()) - 1) > TOLERANCE:
            raise _bad(path, f"category_proportions.by_stage.{stage}", "proportions must sum to 1")


def check_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """The label set of ``disease.json``: the negative label is not a positive one; the precedence lists
    every positive label once; descriptions, titles and the third-party label name known labels and stages."""
    labels = list(manifest["labels"])
    if manifest["negative_label"] in labels:
        raise _bad(path, "negative_label", f"{manifest['negative_label']!r} is also one of the positive labels")
    precedence = list(manifest["label_precedence"])
    if sorted(precedence) != sorted(labels):
        missing, extra = sorted(set(labels) - set(precedence)), sorted(set(precedence) - set(labels))
        detail = f"missing {missing}" if missing else f"not labels: {extra}"
        raise _bad(path, "label_precedence", f"must list every label once ({detail})")
    unknown = sorted(set(manifest["label_descriptions"]) - set(labels))
    if unknown:
        raise _bad(path, f"label_descriptions.{unknown[0]}", f"{unknown[0]!r} is not a label")
    unknown = sorted(set(manifest["stage_titles"]) - set(manifest["stages"]))
    if unknown:
        raise _bad(path, f"stage_titles.{unknown[0]}", f"{unknown[0]!r} is not a stage")
    unknown = sorted(set(manifest.get("label_titles", {})) - {*labels, manifest["negative_label"]})
    if unknown:
        raise _bad(path, f"label_titles.{unknown[0]}", f"{unknown[0]!r} is not a label")
    third = manifest.get("third_party_label")
    if third is not None and third not in labels:
        raise _bad(path, "third_party_label", f"{third!r} is not one of the positive labels")


def check_manifest_against_tables(manifest: Mapping[str, Any], loaded: Mapping[str, Any], path: Path) -> None:
    """Titles keyed by note type or demographic category name ones the schedule and demographics declare,
    and persona fields do not shadow a demographic variable or a plan field."""
    types = loaded["schedule"]["note_types"]["types"]
    unknown = sorted(set(manifest["note_type_titles"]) - set(types))
    if unknown:
        raise _bad(path, f"note_type_titles.{unknown[0]}", f"{unknown[0]!r} is not a note type of the schedule")
    variables = loaded["demographics"]["variables"]
    for var, titles in manifest.get("demographic_titles", {}).items():
        if var not in variables:
            raise _bad(path, f"demographic_titles.{var}", f"{var!r} is not a demographic variable")
        unknown = sorted(set(titles) - set(variables[var]))
        if unknown:
            raise _bad(path, f"demographic_titles.{var}.{unknown[0]}", f"{unknown[0]!r} is not a category of {var!r}")

    for i, name in enumerate(manifest.get("persona_fields", ())):
        if name in variables or name in PLAN_FIELDS:
            raise _bad(
                path,
                f"persona_fields[{i}]",
                f"{name!r} is already a prompt field (a demographic variable or one of the plan's)",
            )


def check_coverage(lexicon: Mapping[str, Any], schedule: Mapping[str, Any], path: Path, stages: list[str]) -> None:
    """Every label a stage asks for (category proportion above 0) has a lexicon term plausible by then
    (``earliest_stage`` at or before it), or the trajectory sampler would have nothing to pick."""
    rank = {s: i for i, s in enumerate(stages)}
    for si, stage in enumerate(stages):
        for label, share in schedule["category_proportions"]["by_stage"].get(stage, {}).items():
            if share > 0 and not any(t["label"] == label and rank[t["earliest_stage"]] <= si for t in lexicon["terms"]):
                raise _bad(
                    path,
                    "terms",
                    f"no term of label {label!r} is plausible by stage {stage!r} "
                    f"(the schedule gives it {share} of that stage's mentions)",
                )


def check_pack(manifest: Mapping[str, Any], loaded: Mapping[str, Any], directory: Path) -> None:
    """Every table of a pack, then the manifest against them."""
    files = manifest["files"]
    labels, stages = list(manifest["labels"]), list(manifest["stages"])
    check_demographics(loaded["demographics"], directory / files["demographics"])
    check_risk_factors(loaded["risk_factors"], directory / files["risk_factors"], loaded["demographics"]["variables"])
    check_lexicon(loaded["lexicon"], directory / files["lexicon"], labels, stages, loaded["demographics"]["variables"])
    check_schedule(loaded["schedule"], directory / files["schedule"], labels, stages)
    check_coverage(loaded["lexicon"], loaded["schedule"], directory / files["lexicon"], stages)
    check_manifest_against_tables(manifest, loaded, directory / "disease.json")

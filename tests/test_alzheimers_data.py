"""Validate the Alzheimer's disease pack data against its schemas and check what schemas cannot.

The semantic checks are plain functions taking the loaded documents, so another pack's tests can reuse them.
Each returns a list of problems (empty when fine).
"""

from __future__ import annotations

import itertools
import json
import string
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
PACK = ROOT / "plugins" / "dualalign-alzheimers"
DATA = PACK / "dualalign_alzheimers" / "data"

TOL = 1e-3
PROMPT_FIELDS = frozenset(
    {
        "age",
        "sex",
        "race_ethnicity",
        "risk_factors",
        "years_before_diagnosis",
        "note_type",
        "stage",
        "n_mentions",
        "required_terms",
    }
)
SOURCE_KEYS = ("source", "sigma_source", "clip_source", "range_source", "years_before_diagnosis_source")

SCHEMA_OF = {
    "disease": "disease-pack.schema.json",
    "demographics": "demographics.schema.json",
    "risk_factors": "risk-factors.schema.json",
    "lexicon": "lexicon.schema.json",
    "schedule": "schedule.schema.json",
}


# ---------------------------------------------------------------------------- loading


def load_json(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def load_pack(data_dir: Path = DATA) -> dict:
    """Load disease.json and every data file it names; keys: disease, demographics, ..., prompt, protocol."""
    disease = load_json(data_dir / "disease.json")
    files = disease["files"]
    pack = {"disease": disease}
    for key in ("demographics", "risk_factors", "lexicon", "schedule"):
        pack[key] = load_json(data_dir / files[key])
    with (data_dir / files["prompt"]).open("rb") as fh:
        pack["prompt"] = tomllib.load(fh)
    pack["protocol"] = (data_dir / files["protocol"]).read_text(encoding="utf-8")
    return pack


@pytest.fixture(scope="module")
def pack() -> dict:
    return load_pack()


# ---------------------------------------------------------------------------- generic checks


def schema_errors(doc: dict, schema: dict) -> list[str]:
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _walk(node, path=()):
    """Yield (path, dict) for every dict in node, skipping the sources/derivations tables."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k in ("sources", "derivations") and not path:
                continue
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def reference_problems(doc: dict) -> list[str]:
    """Every source / derivation id referenced exists; every derivation input is a source."""
    sources = doc.get("sources", {})
    derivations = doc.get("derivations", {})
    problems = []
    for path, d in _walk(doc):
        for key in SOURCE_KEYS:
            if key in d and d[key] not in sources:
                problems.append(f"{'/'.join(map(str, path))}: unknown {key} {d[key]!r}")
        if "derivation" in d and d["derivation"] not in derivations:
            problems.append(f"{'/'.join(map(str, path))}: unknown derivation {d['derivation']!r}")
    for did, der in derivations.items():
        for src in der["inputs"]:
            if src not in sources:
                problems.append(f"derivation {did}: unknown input source {src!r}")
    for sid, src in sources.items():
        if src["kind"] == "assumption" and not src.get("note", "").strip():
            problems.append(f"source {sid}: assumption without a rationale note")
    return problems


def unsourced_numbers(doc: dict) -> list[str]:
    """Every number outside sources/derivations sits in a dict that (or whose ancestor) names a source."""
    problems = []

    def visit(node, path, sourced):
        if isinstance(node, dict):
            here = sourced or any(k in node for k in SOURCE_KEYS)
            for k, v in node.items():
                if not path and k in ("sources", "derivations"):
                    continue
                if isinstance(v, bool):
                    continue
                if isinstance(v, (int, float)) and not (here or (k + "_source") in node):
                    problems.append("/".join(map(str, path + (k,))))
                visit(v, path + (k,), here)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not sourced:
                    problems.append("/".join(map(str, path + (i,))))
                visit(v, path + (i,), sourced)

    visit(doc, (), False)
    return problems


# ---------------------------------------------------------------------------- demographics


def factor_problems(demographics: dict) -> list[str]:
    """Rows of each factor cover every (given, values) combination once and sum to 1 per given combination."""
    variables = demographics["variables"]
    problems = []
    defined: set[str] = set()
    for factor in demographics["factors"]:
        fid = factor["id"]
        for var in factor["variables"] + factor["given"]:
            if var not in variables:
                problems.append(f"{fid}: variable {var!r} not declared in 'variables'")
        for var in factor["given"]:
            if var not in defined:
                problems.append(f"{fid}: given variable {var!r} is not sampled by an earlier factor")
        for var in factor["variables"]:
            if var in defined:
                problems.append(f"{fid}: variable {var!r} already sampled by an earlier factor")
        if any(v not in variables for v in factor["variables"] + factor["given"]):
            continue
        expected_values = set(itertools.product(*(variables[v] for v in factor["variables"])))
        expected_given = set(itertools.product(*(variables[v] for v in factor["given"])))
        cells: dict[tuple, dict[tuple, float]] = {}
        for row in factor["rows"]:
            if set(row["values"]) != set(factor["variables"]):
                problems.append(f"{fid}: row values {row['values']} do not match variables")
                continue
            given = row.get("given", {})
            if set(given) != set(factor["given"]):
                problems.append(f"{fid}: row given {given} does not match given {factor['given']}")
                continue
            vkey = tuple(row["values"][v] for v in factor["variables"])
            gkey = tuple(given[v] for v in factor["given"])
            if vkey not in expected_values or gkey not in expected_given:
                problems.append(f"{fid}: unknown category in row {row['values']} | {given}")
                continue
            if vkey in cells.setdefault(gkey, {}):
                problems.append(f"{fid}: duplicate row {row['values']} | {given}")
            if not 0 <= row["p"] <= 1:
                problems.append(f"{fid}: p out of [0, 1] in {row['values']}")
            cells[gkey][vkey] = row["p"]
        for gkey in expected_given:
            got = cells.get(gkey, {})
            if set(got) != expected_values:
                problems.append(f"{fid}: given {gkey}: missing rows {sorted(expected_values - set(got))}")
            total = sum(got.values())
            if abs(total - 1) > TOL:
                problems.append(f"{fid}: given {gkey}: probabilities sum to {total:.6f}")
        defined.update(factor["variables"])
    if defined != set(variables):
        problems.append(f"variables never sampled: {sorted(set(variables) - defined)}")
    return problems


def marginal(demographics: dict, variable: str) -> dict[str, float]:
    """Marginal of a variable sampled by an unconditional factor (sums the joint rows)."""
    for factor in demographics["factors"]:
        if variable in factor["variables"]:
            assert not factor["given"], "marginal() only handles unconditional factors"
            out: dict[str, float] = {}
            for row in factor["rows"]:
                out[row["values"][variable]] = out.get(row["values"][variable], 0.0) + row["p"]
            return out
    raise KeyError(variable)


# ---------------------------------------------------------------------------- risk factors


def risk_factor_problems(risk_factors: dict, demographics: dict) -> list[str]:
    variables = demographics["variables"]
    problems = []
    ids = [f["id"] for f in risk_factors["factors"]]
    for dup in {i for i in ids if ids.count(i) > 1}:
        problems.append(f"duplicate risk factor id {dup!r}")
    titles = [f["title"].lower() for f in risk_factors["factors"]]
    for dup in {t for t in titles if titles.count(t) > 1}:
        problems.append(f"duplicate risk factor title {dup!r}")
    for f in risk_factors["factors"]:
        if f["group"] not in risk_factors["groups"]:
            problems.append(f"{f['id']}: unknown group {f['group']!r}")
        if "rate" in f:
            if not 0 <= f["rate"] <= 1:
                problems.append(f"{f['id']}: rate out of [0, 1]")
            continue
        unknown = [v for v in f["given"] if v not in variables]
        if unknown:
            problems.append(f"{f['id']}: given variables {unknown} are not demographic variables")
            continue
        expected = set(itertools.product(*(variables[v] for v in f["given"])))
        seen = []
        for r in f["rates"]:
            if set(r["given"]) != set(f["given"]):
                problems.append(f"{f['id']}: rate given {r['given']} does not match {f['given']}")
                continue
            seen.append(tuple(r["given"][v] for v in f["given"]))
            if not 0 <= r["rate"] <= 1:
                problems.append(f"{f['id']}: rate out of [0, 1] for {r['given']}")
        if sorted(seen) != sorted(expected):
            problems.append(f"{f['id']}: rates cover {sorted(seen)}, expected each of {sorted(expected)} once")
    used_groups = {f["group"] for f in risk_factors["factors"]}
    if used_groups != set(risk_factors["groups"]):
        problems.append(f"groups without factors: {sorted(set(risk_factors['groups']) - used_groups)}")
    return problems


# ---------------------------------------------------------------------------- lexicon


def lexicon_problems(lexicon: dict, disease: dict, min_terms: int = 110) -> list[str]:
    problems = []
    terms = lexicon["terms"]
    ids = [t["id"] for t in terms]
    names = [t["term"].lower() for t in terms]
    for dup in {i for i in ids if ids.count(i) > 1}:
        problems.append(f"duplicate term id {dup!r}")
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(f"duplicate term {dup!r}")
    if len(set(names)) < min_terms:
        problems.append(f"only {len(set(names))} unique terms (< {min_terms})")
    owner: dict[str, str] = {}
    for t in terms:
        if t["label"] not in disease["labels"]:
            problems.append(f"{t['id']}: label {t['label']!r} not in disease labels")
        if t["domain"] not in lexicon["domains"]:
            problems.append(f"{t['id']}: domain {t['domain']!r} not in lexicon domains")
        if t["earliest_stage"] not in disease["stages"]:
            problems.append(f"{t['id']}: earliest_stage {t['earliest_stage']!r} not a stage")
        for phrase in [t["term"], *t["variants"]]:
            key = phrase.lower()
            if key in owner and owner[key] != t["id"]:
                problems.append(f"phrase {phrase!r} used by both {owner[key]} and {t['id']}")
            elif key in owner:
                problems.append(f"{t['id']}: variant repeats {phrase!r}")
            owner[key] = t["id"]
    if {t["label"] for t in terms} != set(disease["labels"]):
        problems.append(f"labels without terms: {sorted(set(disease['labels']) - {t['label'] for t in terms})}")
    if {t["domain"] for t in terms} != set(lexicon["domains"]):
        problems.append(f"domains without terms: {sorted(set(lexicon['domains']) - {t['domain'] for t in terms})}")
    return problems


def terms_available(lexicon: dict, disease: dict, stage: str, label: str) -> list[dict]:
    """Terms of a label whose earliest_stage is at or before stage."""
    order = {s: i for i, s in enumerate(disease["stages"])}
    return [t for t in lexicon["terms"] if t["label"] == label and order[t["earliest_stage"]] <= order[stage]]


# ---------------------------------------------------------------------------- schedule


def _tiling_problems(windows: list[dict], total: float, what: str) -> list[str]:
    problems = []
    expected_from = total
    for w in windows:
        if not w["from_years"] > w["to_years"]:
            problems.append(f"{what}: window {w['from_years']}->{w['to_years']} must have from_years > to_years")
        if abs(w["from_years"] - expected_from) > 1e-9:
            problems.append(f"{what}: gap or overlap at {expected_from} (next window starts at {w['from_years']})")
        expected_from = w["to_years"]
    if abs(expected_from) > 1e-9:
        problems.append(f"{what}: windows end at {expected_from}, not 0")
    return problems


def schedule_problems(schedule: dict, disease: dict, lexicon: dict | None = None) -> list[str]:
    problems = []
    stages = disease["stages"]
    labels = disease["labels"]
    total = schedule["years_before_diagnosis"]
    if [s["id"] for s in schedule["stages"]] != stages:
        problems.append(f"schedule stages {[s['id'] for s in schedule['stages']]} != disease stages {stages}")
    problems += _tiling_problems(schedule["stages"], total, "stages")
    problems += _tiling_problems(schedule["visit_weights_by_year"], total, "visit_weights_by_year")

    npp = schedule["notes_per_patient"]
    if not npp["min"] <= npp["median"] <= npp["max"]:
        problems.append("notes_per_patient: median outside [min, max]")

    nt = schedule["note_types"]
    if set(nt["types"]) != set(disease["note_type_titles"]):
        problems.append("note_types.types differ from disease note_type_titles")
    for block, keys in (
        ("note_types", set(nt["types"])),
        ("category_proportions", set(labels)),
    ):
        by_stage = schedule[block]["by_stage"]
        if list(by_stage) != stages:
            problems.append(f"{block}: stages {list(by_stage)} != {stages}")
        for stage, dist in by_stage.items():
            if set(dist) != keys:
                problems.append(f"{block}/{stage}: categories {sorted(dist)} != {sorted(keys)}")
            if abs(sum(dist.values()) - 1) > TOL:
                problems.append(f"{block}/{stage}: proportions sum to {sum(dist.values()):.6f}")
            if any(not 0 <= p <= 1 for p in dist.values()):
                problems.append(f"{block}/{stage}: proportion out of [0, 1]")

    mentions = schedule["mentions_per_note"]["by_stage"]
    if list(mentions) != stages:
        problems.append(f"mentions_per_note: stages {list(mentions)} != {stages}")
    values = [mentions[s] for s in stages if s in mentions]
    if values != sorted(values):
        problems.append("mentions_per_note should not decrease with stage")

    if lexicon is not None:
        for stage, dist in schedule["category_proportions"]["by_stage"].items():
            for label, p in dist.items():
                if p > 0 and not terms_available(lexicon, disease, stage, label):
                    problems.append(f"{stage}/{label}: proportion {p} but no lexicon term available by then")
    return problems


# ---------------------------------------------------------------------------- prompt and protocol


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


SAMPLE_FIELDS = {
    "age": 78,
    "sex": "female",
    "race_ethnicity": "black",
    "risk_factors": "hypertension, hearing loss, lives alone",
    "years_before_diagnosis": "6.5",
    "note_type": "primary care progress note",
    "stage": "mild cognitive impairment",
    "n_mentions": 3,
    "required_terms": "- cognitive_impairment: short-term memory loss; word-finding difficulty\n"
    "- notice_by_others: wife concerned about memory",
}


def prompt_problems(prompt: dict, max_words: int = 350) -> list[str]:
    problems = []
    if set(prompt) - {"version", "system", "user"}:
        problems.append(f"unexpected prompt keys {sorted(set(prompt) - {'version', 'system', 'user'})}")
    for key in ("version", "system", "user"):
        if not isinstance(prompt.get(key), str) or not prompt[key].strip():
            problems.append(f"prompt.{key} missing or empty")
    if problems:
        return problems
    for key in ("system", "user"):
        try:
            fields = template_fields(prompt[key])
        except ValueError as exc:
            problems.append(f"prompt.{key}: not a valid format template ({exc})")
            continue
        if fields - PROMPT_FIELDS:
            problems.append(f"prompt.{key}: unknown fields {sorted(fields - PROMPT_FIELDS)}")
        if any(not f.isidentifier() for f in fields):
            problems.append(f"prompt.{key}: fields must be plain names, got {sorted(fields)}")
        if fields - PROMPT_FIELDS:
            continue
        rendered = prompt[key].format(**SAMPLE_FIELDS)
        if "{" in rendered or "}" in rendered:
            problems.append(f"prompt.{key}: stray braces after rendering")
    if problems:
        return problems
    user_fields = template_fields(prompt["user"])
    if user_fields != PROMPT_FIELDS:
        problems.append(f"prompt.user must use every field; missing {sorted(PROMPT_FIELDS - user_fields)}")
    words = len(prompt["system"].split()) + len(prompt["user"].split())
    if words > max_words:
        problems.append(f"prompt is {words} words (> {max_words})")
    for header in ("Subjective", "Objective", "Assessment", "Plan"):
        if header not in prompt["user"]:
            problems.append(f"prompt.user does not ask for the {header} header")
    return problems


def protocol_problems(protocol: str, disease: dict) -> list[str]:
    problems = []
    for label in [*disease["labels"], disease["negative_label"]]:
        if f"`{label}`" not in protocol:
            problems.append(f"protocol does not mention `{label}`")
    positions = [protocol.find(f"{i}. `{label}`") for i, label in enumerate(disease["label_precedence"], 1)]
    if -1 in positions or positions != sorted(positions):
        problems.append("protocol's numbered precedence list does not match disease.json label_precedence")
    for topic in ("Negation", "Family history", "Hypothetical", "Resolved", "Attribution", "Binary"):
        if topic.lower() not in protocol.lower():
            problems.append(f"protocol lacks a section on {topic}")
    return problems


def disease_problems(disease: dict, data_dir: Path = DATA) -> list[str]:
    problems = []
    labels = disease["labels"]
    if sorted(disease["label_precedence"]) != sorted(labels):
        problems.append("label_precedence is not a permutation of labels")
    if disease["negative_label"] in labels:
        problems.append("negative_label is also a positive label")
    if set(disease["label_descriptions"]) != set(labels):
        problems.append("label_descriptions keys differ from labels")
    if list(disease["stage_titles"]) != disease["stages"]:
        problems.append("stage_titles keys differ from stages")
    for key, name in disease["files"].items():
        if not (data_dir / name).is_file():
            problems.append(f"files.{key}: {name} does not exist")
    return problems


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("key", sorted(SCHEMA_OF))
def test_schema_valid(pack, key):
    schema = load_json(SCHEMAS / SCHEMA_OF[key])
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://dualalign.dev/schemas/{SCHEMA_OF[key]}"
    assert schema_errors(pack[key], schema) == []


@pytest.mark.parametrize("name", sorted(SCHEMA_OF.values()))
def test_schemas_close_every_object(name):
    """additionalProperties: false (or a schema) on every object schema, and a description at the top."""
    schema = load_json(SCHEMAS / name)
    assert schema.get("description")
    open_objects = []

    def visit(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                open_objects.append("/".join(path))
            for k, v in node.items():
                visit(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, path + (str(i),))

    visit(schema, ())
    assert open_objects == []


def test_disease(pack):
    assert disease_problems(pack["disease"]) == []


@pytest.mark.parametrize("key", ["demographics", "risk_factors", "lexicon", "schedule"])
def test_references(pack, key):
    assert reference_problems(pack[key]) == []


@pytest.mark.parametrize("key", ["demographics", "risk_factors", "schedule"])
def test_every_number_has_a_source(pack, key):
    assert unsourced_numbers(pack[key]) == []


def test_demographic_factors(pack):
    assert factor_problems(pack["demographics"]) == []


def test_demographic_headlines(pack):
    demo = pack["demographics"]
    sex = marginal(demo, "sex")
    age = marginal(demo, "age_band")
    race = marginal(demo, "race_ethnicity")
    assert 0.64 <= sex["female"] <= 0.67  # "almost two-thirds are women"
    assert abs(age["75-84"] + age["85+"] - 0.73) <= 0.01  # "73% are age 75 or older"
    # Older Black and Hispanic Americans are over-represented relative to their share of the 65+ population.
    assert race["white"] == max(race.values())
    assert race["black"] > race["hispanic"] > race["asian"]


def test_risk_factors(pack):
    rf = pack["risk_factors"]
    assert risk_factor_problems(rf, pack["demographics"]) == []
    assert 25 <= len(rf["factors"]) <= 30
    ids = {f["id"] for f in rf["factors"]}
    required = {
        "hypertension",
        "heart_disease",
        "diabetes",
        "chronic_kidney_disease",
        "congestive_heart_failure",
        "copd",
        "stroke",
        "cancer",
        # Lancet Commission 2024, the 14 modifiable factors (diabetes, hypertension above)
        "hearing_loss",
        "hyperlipidemia",
        "less_education",
        "social_isolation",
        "depression",
        "traumatic_brain_injury",
        "air_pollution_exposure",
        "physical_inactivity",
        "current_smoking",
        "obesity",
        "excessive_alcohol",
        "untreated_vision_loss",
    }
    assert required <= ids
    medicare = {f["id"]: f["rate"] for f in rf["factors"] if f.get("source") == "aa_chronic_conditions"}
    assert medicare == {
        "hypertension": 0.73,
        "heart_disease": 0.38,
        "diabetes": 0.37,
        "chronic_kidney_disease": 0.29,
        "congestive_heart_failure": 0.28,
        "copd": 0.25,
        "stroke": 0.22,
        "cancer": 0.13,
    }


def test_lexicon(pack):
    assert lexicon_problems(pack["lexicon"], pack["disease"]) == []


def test_schedule(pack):
    assert schedule_problems(pack["schedule"], pack["disease"], pack["lexicon"]) == []


def test_prompt(pack):
    assert prompt_problems(pack["prompt"]) == []


def test_protocol(pack):
    assert protocol_problems(pack["protocol"], pack["disease"]) == []


def test_data_md_documents_every_source():
    text = (PACK / "DATA.md").read_text(encoding="utf-8")
    missing = []
    for name in ("demographics.json", "risk_factors.json", "lexicon.json", "schedule.json"):
        for sid in load_json(DATA / name)["sources"]:
            if f"`{sid}`" not in text:
                missing.append(f"{name}:{sid}")
    assert missing == []


def test_checks_catch_errors(pack):
    """The semantic checks above must fail on broken copies of the data."""
    import copy

    demo = copy.deepcopy(pack["demographics"])
    demo["factors"][0]["rows"][0]["p"] += 0.01
    demo["factors"][1]["given"] = ["income"]
    assert len(factor_problems(demo)) >= 2

    rf = copy.deepcopy(pack["risk_factors"])
    rf["factors"][0]["source"] = "nowhere"
    cond = next(f for f in rf["factors"] if "rates" in f)
    cond["rates"].pop()
    assert reference_problems(rf) and risk_factor_problems(rf, pack["demographics"])

    sched = copy.deepcopy(pack["schedule"])
    sched["stages"][1]["from_years"] = 5.5
    sched["category_proportions"]["by_stage"]["mci"]["cognitive_impairment"] += 0.1
    assert len(schedule_problems(sched, pack["disease"])) >= 2

    lex = copy.deepcopy(pack["lexicon"])
    lex["terms"][1]["term"] = lex["terms"][0]["term"]
    lex["terms"][2]["earliest_stage"] = "severe"
    assert len(lexicon_problems(lex, pack["disease"])) >= 2

    bad_prompt = dict(pack["prompt"], user=pack["prompt"]["user"] + " {patient_name} {")
    assert prompt_problems(bad_prompt)

    schema = load_json(SCHEMAS / "risk-factors.schema.json")
    both = copy.deepcopy(pack["risk_factors"])
    both["factors"][0]["given"] = ["sex"]
    both["sources"]["x_assumption"] = {"title": "t", "author": "a", "year": 2025, "locator": "l", "kind": "assumption"}
    assert len(schema_errors(both, schema)) >= 2

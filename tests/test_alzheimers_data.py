"""The Alzheimer's disease pack: the core's pack checks (one definition, :mod:`dualalign_core.pack_checks`) pass,
and what only this disease needs holds: its label set and stages, the published headline figures its tables
encode, a lexicon large enough for the paper's five categories, a prompt and a protocol that cover them.
"""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualalign_core import cli, pack_checks
from dualalign_core.disease import PLAN_FIELDS, DiseasePack, check_template
from dualalign_core.errors import BadInput

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "plugins" / "dualalign-alzheimers"
DATA = PACK / "dualalign_alzheimers" / "data"
TABLES = ("demographics", "risk_factors", "lexicon", "schedule")
LABELS = (
    "cognitive_impairment",
    "neuropsychiatric_symptoms",
    "notice_by_others",
    "physiological_changes",
    "requiring_assistance",
)


@pytest.fixture(scope="module")
def pack() -> DiseasePack:
    """Loading runs every schema and every core check; a failure names the file and the field."""
    return DiseasePack.from_directory(DATA)


def table_path(pack: DiseasePack, key: str) -> Path:
    return pack.file(key)


def test_dualalign_validate_accepts_the_pack():
    result = CliRunner().invoke(cli.app, ["validate", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "(disease pack)" in result.output


@pytest.mark.parametrize("key", TABLES)
def test_every_number_cites_a_known_source(pack, key):
    pack_checks.check_sources(getattr(pack, key), table_path(pack, key))  # raises BadInput naming the number


def test_label_set_stages_and_titles(pack):
    assert pack.labels == LABELS
    assert pack.negative_label == "none"
    assert pack.third_party_label == "notice_by_others"
    assert pack.stages == ("early_prodromal", "mci", "mild", "moderate")
    assert set(pack.manifest["label_descriptions"]) == set(LABELS)
    assert list(pack.manifest["stage_titles"]) == list(pack.stages)
    assert set(pack.manifest["note_type_titles"]) == set(pack.schedule["note_types"]["types"])


def marginal(demographics: dict, variable: str) -> dict[str, float]:
    """Marginal of a variable sampled by an unconditional factor."""
    factor = next(f for f in demographics["factors"] if variable in f["variables"])
    assert not factor["given"], "only unconditional factors"
    out: dict[str, float] = {}
    for row in factor["rows"]:
        out[row["values"][variable]] = out.get(row["values"][variable], 0.0) + row["p"]
    return out


def test_demographic_headlines(pack):
    sex = marginal(pack.demographics, "sex")
    age = marginal(pack.demographics, "age_band")
    race = marginal(pack.demographics, "race_ethnicity")
    assert 0.64 <= sex["female"] <= 0.67  # "almost two-thirds are women"
    assert abs(age["75-84"] + age["85+"] - 0.73) <= 0.01  # "73% are age 75 or older"
    # Older Black and Hispanic Americans are over-represented relative to their share of the 65+ population.
    assert race["white"] == max(race.values())
    assert race["black"] > race["hispanic"] > race["asian"]


def test_risk_factors(pack):
    rf = pack.risk_factors
    assert 25 <= len(rf["factors"]) <= 30
    titles = [f["title"].lower() for f in rf["factors"]]
    assert len(titles) == len(set(titles))
    assert {f["group"] for f in rf["factors"]} == set(rf["groups"])
    lancet_2024 = {
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
        "diabetes",
        "hypertension",
    }
    assert lancet_2024 <= {f["id"] for f in rf["factors"]}
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


def test_lexicon_covers_every_label_and_domain(pack):
    terms = pack.lexicon["terms"]
    assert len({t["term"].lower() for t in terms}) >= 110
    assert {t["label"] for t in terms} == set(LABELS)
    assert {t["domain"] for t in terms} == set(pack.lexicon["domains"])
    assert pack.lexicon["self_cause_terms"] and pack.lexicon["reporter_cues"]


def test_schedule_mentions_grow_with_stage_and_every_stage_mixes_every_label(pack):
    mentions = [pack.schedule["mentions_per_note"]["by_stage"][s] for s in pack.stages]
    assert mentions == sorted(mentions)
    for stage, mix in pack.schedule["category_proportions"]["by_stage"].items():
        assert set(mix) == set(LABELS), stage


def template_fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_prompt_uses_every_plan_field_and_asks_for_soap(pack):
    user = pack.prompt.user
    assert PLAN_FIELDS | {"sex", "race_ethnicity"} <= template_fields(user)
    assert len(pack.prompt.system.split()) + len(user.split()) <= 350
    for header in ("Subjective", "Objective", "Assessment", "Plan"):
        assert header in user


def test_protocol_names_every_label_in_precedence_order(pack):
    protocol = pack.protocol
    for label in pack.all_labels:
        assert f"`{label}`" in protocol, label
    positions = [protocol.find(f"{i}. `{label}`") for i, label in enumerate(pack.label_precedence, 1)]
    assert -1 not in positions and positions == sorted(positions)
    for topic in ("Negation", "Family history", "Hypothetical", "Resolved", "Attribution", "Binary"):
        assert topic.lower() in protocol.lower(), topic


def test_data_md_documents_every_source(pack):
    text = (PACK / "DATA.md").read_text(encoding="utf-8")
    missing = [f"{key}:{sid}" for key in TABLES for sid in getattr(pack, key)["sources"] if f"`{sid}`" not in text]
    assert missing == []


def _break(doc: dict, key: str) -> str:
    """Break a copy of one AD table the way a typo would; returns the field the core's check must name."""
    if key == "demographics":
        doc["factors"][0]["rows"][0]["p"] += 0.01
        return "factors[0].rows"
    if key == "risk_factors":
        next(f for f in doc["factors"] if "rates" in f)["rates"].pop()
        return ".rates"
    if key == "lexicon":
        doc["terms"][2]["earliest_stage"] = "severe"
        return "terms[2].earliest_stage"
    doc["stages"][1]["from_years"] = 5.5
    return "stages[1]"


@pytest.mark.parametrize("key", TABLES)
def test_the_core_checks_catch_a_broken_copy_of_the_ad_tables(pack, key):
    doc = copy.deepcopy(getattr(pack, key))
    field = _break(doc, key)
    path = table_path(pack, key)
    check = {
        "demographics": lambda: pack_checks.check_demographics(doc, path),
        "risk_factors": lambda: pack_checks.check_risk_factors(doc, path, pack.demographics["variables"]),
        "lexicon": lambda: pack_checks.check_lexicon(doc, path, list(pack.labels), list(pack.stages)),
        "schedule": lambda: pack_checks.check_schedule(doc, path, list(pack.labels), list(pack.stages)),
    }[key]
    with pytest.raises(BadInput) as err:
        check()
    assert err.value.file == str(path) and field in (err.value.field or ""), (err.value.field, field)


def test_the_core_refuses_a_prompt_field_the_pack_does_not_have(pack):
    with pytest.raises(BadInput) as err:
        check_template(pack.prompt.user + " {patient_name}", str(pack.file("prompt")), "user", pack.prompt_fields())
    assert "{patient_name}" in str(err.value)


def test_manifest_typos_are_caught(pack):
    manifest = json.loads((DATA / "disease.json").read_text(encoding="utf-8"))
    manifest["stage_titles"]["mci "] = "typo"
    with pytest.raises(BadInput) as err:
        pack_checks.check_manifest(manifest, DATA / "disease.json")
    assert err.value.field == "stage_titles.mci "

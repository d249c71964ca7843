"""Records: frozen values with validators; round trip through dicts; exports match record schemas."""

from __future__ import annotations

import json

import attrs
import pytest

from dualalign_core.jsonschemas import validate
from dualalign_core.records import Label, Note, NotePlan, Persona, Provenance, RequiredTerm, Usage, from_dict, to_dict
from dualalign_core.seeds import derive_seed
from support import dualalign, toy_config

PROV = Provenance(run_id="r", seed=1, component="generator:x", plugin="p", plugin_version="1")


def test_records_are_frozen_and_validated():
    persona = Persona(id="p1", age=70, demographics={"sex": "female"}, risk_factors=["a"], provenance=PROV)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        persona.age = 71  # type: ignore[misc]
    with pytest.raises(ValueError):
        Persona(id="p1", age=170, demographics={}, risk_factors=(), provenance=PROV)
    with pytest.raises(ValueError):
        Persona(id="", age=70, demographics={}, risk_factors=(), provenance=PROV)
    with pytest.raises(ValueError):
        NotePlan(
            id="n",
            persona_id="p",
            index=-1,
            years_before_diagnosis=1,
            note_type="pc",
            stage="s",
            n_mentions=0,
            required_terms=(),
            provenance=PROV,
        )


def test_round_trip():
    plan = NotePlan(
        id="p1-n000",
        persona_id="p1",
        index=0,
        years_before_diagnosis=3.5,
        note_type="pc",
        stage="mci",
        n_mentions=1,
        required_terms=[RequiredTerm("cog", "t1", "memory loss")],
        provenance=PROV,
    )
    assert from_dict(NotePlan, to_dict(plan)) == plan
    note = Note(id="n", plan_id="p", persona_id="q", text="S: x", usage=Usage(1, 2, 0.5), provenance=PROV)
    assert from_dict(Note, json.loads(json.dumps(to_dict(note)))) == note
    label = Label(sentence_id="s", note_id="n", label="none", binary=False, annotator="a")
    assert from_dict(Label, to_dict(label)) == label


def test_seeds_are_stable_and_distinct():
    assert derive_seed(1, "plan", "p1") == derive_seed(1, "plan", "p1")
    assert derive_seed(1, "plan", "p1") != derive_seed(1, "plan", "p2")
    assert derive_seed(1, "plan", "p1") != derive_seed(2, "plan", "p1")
    assert 0 <= derive_seed(123, "x") < 2**63


def test_exported_rows_match_record_schemas(plugin_site, tmp_path):
    cfg = toy_config(
        tmp_path / "t.toml",
        run="seed = 3\npatients = 3",
        filters='use = ["short-note"]\noptions = {short-note = {min_chars = 150}}',
    )
    assert dualalign("run", str(cfg), "--out", str(tmp_path / "r"), "-q", site=plugin_site).returncode == 0
    assert dualalign("export", str(tmp_path / "r"), "--out", str(tmp_path / "e")).returncode == 0
    schema_of = {
        "personas": "persona",
        "plans": "plan",
        "notes": "note",
        "sentences": "sentence",
        "labels": "label",
        "rejections": "rejection",
    }
    seen = set()
    for table, schema in schema_of.items():
        for line in (tmp_path / "e" / f"{table}.jsonl").read_text().splitlines():
            validate(json.loads(line), f"records/{schema}", file=table)
            seen.add(table)
    assert seen == set(schema_of)  # every table had rows, rejections included

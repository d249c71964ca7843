"""Each export loaded back with the library a user would use: counts match and ids join."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
from report_support import audit_run
from typer.testing import CliRunner

from dualalign_core.cli import app
from dualalign_core.exports import patient_splits
from dualalign_core.exports.jsonl import CARD, export_run
from dualalign_core.run.view import RunView


@pytest.fixture(scope="module")
def run():
    run_dir = audit_run()
    with RunView(run_dir) as v:
        facts = {
            "personas": set(v.personas),
            "notes": set(v.notes),
            "accepted": {n.id for n in v.accepted},
            "plans": {k: p for k, p in v.plans.items()},
            "sentences": sum(map(len, v.sentences.values())),
            "primary": {k: lb.label for k, lb in v.primary_labels.items()},
            "accepted_sentences": {s.id for n in v.accepted for s in v.sentences.get(n.id, ())},
        }
    return run_dir, facts


def _card_ok(out):
    card = (out / CARD).read_text()
    assert "not for clinical decisions" in card and "doi.org" in card and "Measured fidelity" in card
    assert "demographic_tvd" in card and "prompt template version" in card


def test_jsonl_tables_join_on_ids(run, tmp_path):
    run_dir, f = run
    out = tmp_path / "jsonl"
    export_run(run_dir, "jsonl", out)
    t = {
        name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        for name in ("personas", "plans", "notes", "sentences", "labels", "rejections")
    }
    assert {p["id"] for p in t["personas"]} == f["personas"]
    assert {n["id"] for n in t["notes"]} == f["notes"] and len(t["sentences"]) == f["sentences"]
    assert {n["persona_id"] for n in t["notes"]} <= f["personas"]
    assert {n["plan_id"] for n in t["notes"]} <= set(f["plans"])
    assert {s["note_id"] for s in t["sentences"]} <= f["notes"]
    assert {lb["sentence_id"] for lb in t["labels"]} <= {s["id"] for s in t["sentences"]}
    assert {r["record_id"].split("@")[0] for r in t["rejections"]} <= f["notes"]
    assert {n["id"] for n in t["notes"] if n["status"] == "accepted"} == f["accepted"]
    _card_ok(out)


def test_parquet_tables_join_on_ids(run, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    run_dir, f = run
    out = tmp_path / "pq"
    export_run(run_dir, "parquet", out)
    notes = pq.read_table(out / "notes.parquet").to_pylist()
    sentences = pq.read_table(out / "sentences.parquet").to_pylist()
    personas = pq.read_table(out / "personas.parquet").to_pylist()
    assert {p["id"] for p in personas} == f["personas"] and len(sentences) == f["sentences"]
    assert {n["persona_id"] for n in notes} <= f["personas"] and {s["note_id"] for s in sentences} <= f["notes"]
    _card_ok(out)


def test_hf_dataset_dict_with_patient_splits(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    run_dir, f = run
    out = tmp_path / "hf"
    counts = export_run(run_dir, "hf", out)
    dd = datasets.load_from_disk(str(out))
    assert set(dd) == {"train", "validation", "test"}
    label = dd["train"].features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names[-1] == "none"
    assert isinstance(dd["train"].features["binary"], datasets.ClassLabel)
    notes = datasets.load_from_disk(str(out / "notes"))
    patients = datasets.load_from_disk(str(out / "patients"))
    total = sum(len(dd[s]) for s in dd)
    assert (
        total
        == len(f["accepted_sentences"] & set(f["primary"]))
        == sum(v for k, v in counts.items() if k.startswith("sentences/"))
    )
    assert {i for s in notes for i in notes[s]["id"]} == f["accepted"]
    assert {i for s in patients for i in patients[s]["id"]} == f["personas"]
    for split in dd:  # ids join, and no patient crosses splits
        pats = set(patients[split]["id"])
        assert set(dd[split]["patient_id"]) <= pats and set(notes[split]["patient_id"]) <= pats
        assert set(dd[split]["note_id"]) <= set(notes[split]["id"])
    row = dd["train"][0]
    assert label.int2str(row["label"]) == f["primary"][row["id"]]
    _card_ok(out)


def test_patient_splits_are_stable_and_cover_every_split():
    ids = [f"p{i:05d}" for i in range(20)]
    s = patient_splits(ids)
    assert s == patient_splits(list(reversed(ids)))
    assert sorted(set(s.values())) == ["test", "train", "validation"]
    assert list(s.values()).count("train") == 16


def test_fhir_bundles_validate_as_r4(run, tmp_path):
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle  # R4B models: Patient/Condition/DocumentReference are R4's

    run_dir, f = run
    out = tmp_path / "fhir"
    anchor = date(2030, 6, 1)
    result = CliRunner().invoke(
        app, ["export", str(run_dir), "--format", "fhir", "--out", str(out), "--anchor-date", anchor.isoformat()]
    )
    assert result.exit_code == 0, result.output
    files = sorted((out / "fhir").glob("*.json"))
    assert {p.stem for p in files} == f["personas"]
    note_ids, persona_ids = set(), set()
    for path in files:
        bundle = Bundle.model_validate_json(path.read_text())
        assert bundle.type == "collection"
        kinds = [e.resource.get_resource_type() for e in bundle.entry]
        assert kinds[0] == "Patient" and kinds.count("Condition") >= 1
        patient = bundle.entry[0].resource
        persona_ids.add(patient.identifier[0].value)
        subject = f"urn:uuid:{patient.id}"
        for e in bundle.entry:
            r = e.resource
            assert any(t.code == "synthetic" for t in r.meta.tag) and r.meta.security[0].code == "HTEST"
            if r.get_resource_type() != "Patient":
                assert r.subject.reference == subject
            if r.get_resource_type() == "DocumentReference":
                nid = r.identifier[0].value
                note_ids.add(nid)
                years = f["plans"][nid].years_before_diagnosis
                assert r.date.date() == anchor - timedelta(days=round(years * 365.25))
                data = r.content[0].attachment.data  # base64Binary: the model holds the decoded bytes
                text = data if isinstance(data, bytes) else base64.b64decode(data)
                assert text.decode("utf-8").strip()
    assert persona_ids == f["personas"] and note_ids == f["accepted"]
    _card_ok(out)
    assert anchor.isoformat() in (out / CARD).read_text()


def test_unknown_format_is_bad_input(tmp_path):
    result = CliRunner().invoke(app, ["export", str(audit_run()), "--format", "csv", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "hf" in result.output

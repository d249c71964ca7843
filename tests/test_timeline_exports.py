"""Exports carry the patient timeline: timeline.jsonl / parquet / HF rows match the store, FHIR has the
medications, scores, vitals and one Encounter per note, and every format is byte-identical across reruns."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from timeline_support import template_run

from dualalign_core.exports import patient_splits
from dualalign_core.exports.fhir import bundle_filename
from dualalign_core.exports.jsonl import FORMATS, export_run
from dualalign_core.history.timeline import Timeline
from dualalign_core.jsonschemas import validate
from dualalign_core.records import from_dict, to_dict
from dualalign_core.run.view import RunView

LOINC = "http://loinc.org"
VITAL_CODES = {"sbp": "8480-6", "dbp": "8462-4", "hr": "8867-4", "weight": "29463-7"}
SCORE_CODES = {"moca": "72172-0", "mmse": "72107-6"}


@pytest.fixture(scope="module")
def ad():
    run_dir = template_run("ad")
    with RunView(run_dir) as v:
        facts = {
            "timelines": dict(v.timelines),
            "personas": set(v.personas),
            "accepted": {n.id: n.persona_id for n in v.accepted},
        }
    return run_dir, facts


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_timeline_jsonl_rows_validate_and_match_the_store(ad, tmp_path):
    run_dir, f = ad
    counts = export_run(run_dir, "jsonl", tmp_path / "e")
    rows = [json.loads(line) for line in (tmp_path / "e" / "timeline.jsonl").read_text().splitlines()]
    assert counts["timeline"] == len(rows) == 5
    for row in rows:
        validate(row, "records/timeline", file="timeline.jsonl")
    assert [r["persona_id"] for r in rows] == sorted(f["personas"])  # canonical order
    assert {r["persona_id"]: from_dict(Timeline, r) for r in rows} == f["timelines"]
    assert rows == [json.loads(json.dumps(to_dict(f["timelines"][pid]))) for pid in sorted(f["timelines"])]
    assert any(r["medications"] for r in rows) and all(r["measurements"] for r in rows)


def test_timeline_parquet_and_hf_tables(ad, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    run_dir, f = ad
    export_run(run_dir, "parquet", tmp_path / "pq")
    table = pq.read_table(tmp_path / "pq" / "timeline.parquet").to_pylist()
    assert [r["persona_id"] for r in table] == sorted(f["personas"])
    for r in table:  # nested fields as JSON strings, like every parquet table
        assert json.loads(r["medications"]) == to_dict(f["timelines"][r["persona_id"]])["medications"]
    counts = export_run(run_dir, "hf", tmp_path / "hf")
    dd = datasets.load_from_disk(str(tmp_path / "hf" / "timeline"))
    splits = patient_splits(sorted(f["personas"]))
    seen = {}
    for split in dd:
        assert counts[f"timeline/{split}"] == len(dd[split])
        for row in dd[split]:
            seen[row["persona_id"]] = split
            expected = to_dict(f["timelines"][row["persona_id"]])
            assert len(row["measurements"]) == len(expected["measurements"])
            assert [m["drug"] for m in row["medications"]] == [m["drug"] for m in expected["medications"]]
    assert seen == splits  # the same patient split as the notes


def test_fhir_carries_medications_observations_and_encounters(ad, tmp_path):
    run_dir, f = ad
    anchor = date(2030, 6, 1)
    counts = export_run(run_dir, "fhir", tmp_path / "fhir", anchor_date=anchor)
    notes_of = Counter(f["accepted"].values())
    total = Counter()
    for pid, t in f["timelines"].items():
        bundle = json.loads((tmp_path / "fhir" / "fhir" / bundle_filename(pid)).read_text())
        res = [e["resource"] for e in bundle["entry"]]
        kinds = Counter(r["resourceType"] for r in res)
        total.update(kinds)
        by_id = {f"urn:uuid:{r['id']}": r for r in res}
        roles = {c.id: c.role for c in t.clinicians}
        authors = dict(t.note_authors)
        # one Encounter per accepted note, with its author's role (never a name), linked from its document
        assert kinds["Encounter"] == kinds["DocumentReference"] == notes_of[pid]
        for doc in (r for r in res if r["resourceType"] == "DocumentReference"):
            enc = by_id[doc["context"]["encounter"][0]["reference"]]
            note_id = doc["identifier"][0]["value"]
            assert enc["resourceType"] == "Encounter" and enc["identifier"][0]["value"] == note_id
            assert enc["period"]["start"] == doc["context"]["period"]["start"]
            role_texts = [c.get("text") for p in enc["participant"] for c in p["type"]]
            assert roles[authors[note_id]] in role_texts
            assert set(enc["participant"][0]) == {"extension", "type"}  # no individual, no name
        # one MedicationStatement per course, dated like the notes
        meds = [r for r in res if r["resourceType"] == "MedicationStatement"]
        assert len(meds) == len(t.medications)
        for r, m in zip(meds, t.medications, strict=True):
            assert r["status"] == ("stopped" if m.stop is not None else "active")
            assert r["medicationCodeableConcept"]["text"] == m.drug
            assert r["effectivePeriod"]["start"] == (anchor - timedelta(days=round(m.start * 365.25))).isoformat()
            assert ("end" in r["effectivePeriod"]) == (m.stop is not None)
            assert r["reasonCode"][0]["coding"][0]["code"] == m.indication
            assert [d["text"] for d in r["dosage"]] == [d.dose for d in m.doses]
        # an Observation per score and vital of an exported visit, LOINC-coded from the pack
        taken = [m for m in t.measurements if m.note_id is None or m.note_id in f["accepted"]]
        obs = [r for r in res if r["resourceType"] == "Observation"]
        assert len(obs) == len(taken)
        for r, m in zip(obs, taken, strict=True):
            code = r["code"]["coding"][0]
            assert code["system"] == LOINC and code["code"] == {**VITAL_CODES, **SCORE_CODES}[m.id]
            assert r["valueQuantity"]["value"] == m.value
            assert r["category"][0]["coding"][0]["code"] == ("vital-signs" if m.kind == "vital" else "survey")
            assert by_id[r["encounter"]["reference"]]["resourceType"] == "Encounter"
    assert {k: counts[k] for k in ("Encounter", "MedicationStatement", "Observation")} == {
        k: total[k] for k in ("Encounter", "MedicationStatement", "Observation")
    }
    assert counts["Observation"] > 0 and counts["MedicationStatement"] > 0


def test_fhir_bundles_with_timelines_validate_as_r4(ad, tmp_path):
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle

    run_dir, _ = ad
    export_run(run_dir, "fhir", tmp_path / "fhir")
    for path in sorted((tmp_path / "fhir" / "fhir").glob("*.json")):
        kinds = {e.resource.get_resource_type() for e in Bundle.model_validate_json(path.read_text()).entry}
        assert {"Patient", "Encounter", "DocumentReference", "Observation"} <= kinds


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_are_byte_identical_across_reruns(ad, fmt, tmp_path):
    first, again = template_run("ad"), template_run("ad", copy=1)
    export_run(first, fmt, tmp_path / "a")
    export_run(again, fmt, tmp_path / "b")
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b and a
    export_run(first, fmt, tmp_path / "a")  # an export replaced in place is the same again
    assert _tree(tmp_path / "a") == a


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_pack_without_history_exports_every_format(fmt, tmp_path):
    run_dir = template_run("toy")
    with RunView(run_dir) as v:
        assert not v.timelines
        accepted = len(v.accepted)
    counts = export_run(run_dir, fmt, tmp_path / "e")
    if fmt == "jsonl":
        assert (tmp_path / "e" / "timeline.jsonl").read_text() == "" and counts["timeline"] == 0
    elif fmt == "parquet":
        assert (tmp_path / "e" / "timeline.parquet").is_file()
    elif fmt == "hf":
        assert sum(v for k, v in counts.items() if k.startswith("timeline/")) == 0
    else:
        assert counts["Encounter"] == counts["DocumentReference"] == accepted
        assert counts["MedicationStatement"] == counts["Observation"] == 0

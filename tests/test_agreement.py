"""Cohen's kappa per label and overall, disagreements, and the agreement/review file helpers."""

import json
from pathlib import Path

import pytest

from dualalign_core.annotate.agreement import agreement, agreement_from_mapping, cohen_kappa
from dualalign_core.annotate.files import agreement_files
from dualalign_core.errors import BadInput
from dualalign_core.records import Label


def test_kappa_textbook_value():
    # 2x2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_edge_cases():
    assert cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0  # chance agreement 1: defined as 1
    assert cohen_kappa([], []) == 0.0
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], [])


def test_per_label_overall_and_disagreements():
    a = {
        "s1": "cognitive_impairment",
        "s2": "none",
        "s3": "none",
        "s4": "requiring_assistance",
        "s5": "cognitive_impairment",
        "s6": "none",
    }
    b = {
        "s1": "cognitive_impairment",
        "s2": "none",
        "s3": "cognitive_impairment",
        "s4": "requiring_assistance",
        "s5": "cognitive_impairment",
        "s6": "none",
        "s7": "none",
    }
    r = agreement_from_mapping(
        a, b, labels=["cognitive_impairment", "requiring_assistance", "none"], negative_label="none"
    )
    assert r.n == 6 and r.only_b == 1 and r.only_a == 0
    assert r.observed == pytest.approx(5 / 6)
    assert r.per_label["requiring_assistance"] == 1.0
    assert r.per_label["cognitive_impairment"] == pytest.approx(cohen_kappa([1, 0, 0, 0, 1, 0], [1, 0, 1, 0, 1, 0]))
    assert [(d.sentence_id, d.label_a, d.label_b) for d in r.disagreements] == [("s3", "none", "cognitive_impairment")]
    assert 0 < r.kappa < 1 and r.binary_kappa == pytest.approx(cohen_kappa([1, 0, 0, 1, 1, 0], [1, 0, 1, 1, 1, 0]))


def test_agreement_on_label_records_keeps_evidence():
    la = [Label("s1", "n", "notice_by_others", True, "lexicon", "daughter reports")]
    lb = [Label("s1", "n", "cognitive_impairment", True, "llm", "forgets")]
    r = agreement(la, lb)
    assert (r.annotator_a, r.annotator_b) == ("lexicon", "llm")
    assert r.disagreements[0].evidence_a == "daughter reports" and r.as_dict()["disagreements"] == 1


def test_agreement_files_and_review(tmp_path: Path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    rows = [
        ("n1", 0, "Forgets names.", "cognitive_impairment", "cognitive_impairment"),
        ("n1", 1, "Denies falls.", "none", "physiological_changes"),
        ("n2", 0, "Low mood.", "neuropsychiatric_symptoms", "neuropsychiatric_symptoms"),
    ]
    a.write_text(
        "".join(
            json.dumps({"note_id": n, "sentence_index": i, "text": t, "label": x, "annotator": "lexicon"}) + "\n"
            for n, i, t, x, _ in rows
        )
    )
    b.write_text(
        "".join(
            json.dumps({"note_id": n, "sentence_index": i, "text": t, "label": y, "annotator": "llm"}) + "\n"
            for n, i, t, _, y in rows
        )
    )
    review = tmp_path / "review.jsonl"
    r = agreement_files(a, b, review_out=review)
    assert r.n == 3 and len(r.disagreements) == 1
    out = [json.loads(x) for x in review.read_text().splitlines()]
    assert out == [
        {
            "sentence_id": "n1:1",
            "note_id": "n1",
            "text": "Denies falls.",
            "annotator_a": "lexicon",
            "label_a": "none",
            "evidence_a": None,
            "annotator_b": "llm",
            "label_b": "physiological_changes",
            "evidence_b": None,
            "adjudicated_label": None,
            "note": None,
        }
    ]


def test_agreement_files_bad_input(tmp_path: Path):
    a = tmp_path / "a.jsonl"
    a.write_text('{"text": "x"}\n')
    with pytest.raises(BadInput) as exc:
        agreement_files(a, a)
    assert exc.value.field == "line 1" and "label" in str(exc.value)

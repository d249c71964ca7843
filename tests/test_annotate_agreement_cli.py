"""`dualalign annotate` ids, NaN and output size, and `dualalign agreement` refusing wrong statistics,
through the real CLI (exit code, one-line message, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualalign_core.plugins import get_registry
from support import dualalign

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def refused(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


def test_annotate_duplicate_ids_null_ids_and_nan(tmp_path):
    out = tmp_path / "out.jsonl"
    dup = jsonl(tmp_path / "dup.jsonl", [{"id": "a", "text": "Forgets names."}, {"id": "a", "text": "Denies."}])
    refused(dualalign("annotate", str(dup), "--out", str(out)), "dup.jsonl", "duplicate id 'a'", "line 2")
    assert not out.exists()  # validated before anything is written
    bad = jsonl(tmp_path / "bad.jsonl", [{"id": ["x"], "text": "Forgets names."}])
    refused(dualalign("annotate", str(bad), "--out", str(out)), "bad.jsonl", "line 1", "'id'")
    # null ids are derived from the line number; NaN in input becomes null; output is standard JSON
    src = jsonl(
        tmp_path / "in.jsonl",
        ['{"id": null, "text": "S: Forgets names.\\nA: MCI.", "score": NaN}', {"text": "Denies falls."}],
    )
    done = dualalign("annotate", str(src), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "NaN" not in text and "None:" not in text
    rows = [json.loads(x) for x in text.splitlines()]
    assert [r["sentence_id"] for r in rows] == ["line-1-s000", "line-1-s001", "line-2-s000"]
    assert rows[0]["score"] is None


def test_annotate_output_is_linear_in_the_note(tmp_path):
    """A ~200 KB note: output rows carry offsets, not the note, so the output stays within a small factor."""
    para = (
        "S: Pt forgets names and misplaces keys. Daughter is worried about her memory. "
        "O: BP 120/80. MoCA 24/30. A: Mild cognitive impairment. P: Follow up in 3 months.\n"
    )
    note = para * (200_000 // len(para))
    src = jsonl(tmp_path / "big.jsonl", [{"id": "big", "text": note}])
    out = tmp_path / "out.jsonl"
    done = dualalign("annotate", str(src), "--out", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) > 5_000
    assert all(note[r["start"] : r["end"]] == r["text"] for r in rows[:50])
    assert out.stat().st_size < 12 * src.stat().st_size, (out.stat().st_size, src.stat().st_size)


def _labelled(path: Path, labels: list, ids: list | None = None) -> Path:
    ids = ids or [f"s{i}" for i in range(len(labels))]
    return jsonl(path, [{"sentence_id": i, "label": lab} for i, lab in zip(ids, labels, strict=True)])


def test_agreement_refuses_duplicates_disjoint_empty_and_null_labels(tmp_path):
    labels = ["none", "cognitive_impairment"] * 5
    a = _labelled(tmp_path / "a.jsonl", labels)
    dup = _labelled(tmp_path / "dup.jsonl", labels, ids=[f"s{i}" for i in range(9)] + ["s0"])
    refused(dualalign("agreement", str(a), str(dup)), "dup.jsonl", "duplicate sentence id 's0'", "line 10")
    disjoint = _labelled(tmp_path / "d.jsonl", labels, ids=[f"x{i}" for i in range(10)])
    refused(dualalign("agreement", str(a), str(disjoint)), "nothing to compare", "no sentence id in common")
    empty = jsonl(tmp_path / "e.jsonl", [])
    refused(dualalign("agreement", str(a), str(empty)), "e.jsonl", "nothing to compare", "empty")
    null = jsonl(tmp_path / "n.jsonl", [{"sentence_id": "s0", "label": None}])
    refused(dualalign("agreement", str(a), str(null)), "n.jsonl", "line 1: label", "null")
    nan = jsonl(tmp_path / "nan.jsonl", ['{"sentence_id": "s0", "label": NaN}'])
    refused(dualalign("agreement", str(a), str(nan)), "nan.jsonl", "line 1: label")


def test_agreement_table_shows_per_label_kappas(tmp_path):
    a = _labelled(tmp_path / "a.jsonl", ["none", "cognitive_impairment", "none", "notice_by_others"])
    b = _labelled(tmp_path / "b.jsonl", ["none", "cognitive_impairment", "notice_by_others", "notice_by_others"])
    result = dualalign("agreement", str(a), str(b))
    assert result.returncode == 0, result.stderr
    for label in ("cognitive_impairment", "notice_by_others", "none"):
        assert label in result.stdout
    assert json.loads(dualalign("agreement", str(a), str(b), "--json").stdout)["n"] == 4


def test_agreement_refuses_labels_the_pack_does_not_have_and_keeps_counts_out_of_the_kappa_column(tmp_path):
    """Issue 21 item 14."""
    a = _labelled(tmp_path / "a.jsonl", ["none", "cognitive_impairment", "none", "notice_by_others"])
    b = _labelled(tmp_path / "b.jsonl", ["none", "cognitive_impairment", "delirium", "notice_by_others"])
    refused(
        dualalign("agreement", str(a), str(b), "--disease", "alzheimers"),
        "b.jsonl",
        "line 3: label",
        "unknown label 'delirium'",
    )
    c = _labelled(tmp_path / "c.jsonl", ["none", "cognitive_impairment", "notice_by_others", "notice_by_others"])
    result = dualalign("agreement", str(a), str(c), "--disease", "alzheimers")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert rows, result.stdout
    for row in rows[1:]:  # every value in the kappa column is a kappa (the header aside)
        assert float(row.split("│")[2]) <= 1.0, row
    assert not any(name in result.stdout.split("sentences compared")[0] for name in ("only_a", "disagreements"))
    assert "4 sentences compared" in result.stdout and "1 disagreements" in result.stdout

"""Pipeline behaviour: quota refill, warn-only filters, the rejection ledger."""

from __future__ import annotations

import json

from support import dualalign, toy_config


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_warn_only_filter_records_without_rejecting(plugin_site, tmp_path):
    cfg = toy_config(
        tmp_path / "t.toml",
        run="seed = 3\npatients = 3",
        filters='use = ["short-note"]\nwarn = ["short-note"]\noptions = {short-note = {min_chars = 100000}}',
    )
    assert dualalign("run", str(cfg), "--out", str(tmp_path / "r"), "-q", site=plugin_site).returncode == 0
    assert dualalign("export", str(tmp_path / "r"), "--out", str(tmp_path / "e")).returncode == 0
    notes = _rows(tmp_path / "e" / "notes.jsonl")
    ledger = _rows(tmp_path / "e" / "rejections.jsonl")
    assert notes and all(n["status"] == "accepted" for n in notes)
    assert len(ledger) == len(notes) and all(r["enforced"] is False for r in ledger)
    assert all(r["attempt"] == 0 for r in ledger)  # no refill for warnings


def test_refill_regenerates_rejected_notes_and_keeps_the_ledger(plugin_site, tmp_path):
    # min_chars sits inside the generated lengths, so some first attempts fail and are regenerated
    cfg = toy_config(
        tmp_path / "t.toml",
        run="seed = 3\npatients = 6\nmax_attempts = 4",
        filters='use = ["short-note"]\noptions = {short-note = {min_chars = 110}}',
    )
    assert dualalign("run", str(cfg), "--out", str(tmp_path / "r"), "-q", site=plugin_site).returncode == 0
    assert dualalign("export", str(tmp_path / "r"), "--out", str(tmp_path / "e")).returncode == 0
    notes = {n["id"]: n for n in _rows(tmp_path / "e" / "notes.jsonl")}
    ledger = _rows(tmp_path / "e" / "rejections.jsonl")
    last = {}  # note id -> its latest judged attempt
    for r in ledger:
        last[r["record_id"]] = max(last.get(r["record_id"], 0), r["attempt"])
    # an attempt a later one replaced: every verdict on an accepted note, and those before a note's last attempt
    earlier = [
        r for r in ledger if notes[r["record_id"]]["status"] == "accepted" or r["attempt"] < last[r["record_id"]]
    ]
    assert earlier, "expected some regenerated notes"
    for r in earlier:
        assert r["record_id"] in notes and r["attempt"] < 3
        assert r["value"] < r["threshold"] == 110
    for n in notes.values():  # final verdicts agree with the text
        assert (n["status"] == "accepted") == (len(n["text"]) >= 110)
    # attempts were different texts (a fresh derived seed each), and the run has no duplicate notes
    assert len(notes) == len(_rows(tmp_path / "e" / "plans.jsonl"))


def test_warn_filter_must_be_used(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "t.toml", filters='use = []\nwarn = ["short-note"]')
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "r"), "-q", site=plugin_site)
    assert result.returncode == 2 and "filters.warn[0]" in result.stderr

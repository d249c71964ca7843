"""The run package's seams: estimate plans what the run plans, cohort refills count each note once, and a
store written before the ledger's attempt column resumes with the attempt as a column."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from dualalign_core.cli import app
from dualalign_core.config import load_config
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.run.store import RunStore
from dualalign_core.run.view import RunView

CONFIG = """
[run]
seed = 5
patients = 3
max_notes_per_patient = 5
max_attempts = 3
[disease]
name = "alzheimers"
[trajectory]
multiplier = 2
[generator]
name = "template"
[annotator]
name = "plan"
[filters]
use = [{filters}]
{options}
"""


def config(tmp_path: Path, filters: str = "", options: str = "") -> Path:
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(filters=filters, options=options))
    return path


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_estimate_plans_what_the_run_plans_and_writes_nothing(tmp_path):
    cfg = config(tmp_path)
    before = sorted(tmp_path.iterdir())
    est = cli("estimate", cfg, "--json")
    assert est.exit_code == 0, est.output
    assert sorted(tmp_path.iterdir()) == before  # no run directory, no temporary run left behind
    planned = cli("plan", cfg, "--out", tmp_path / "run", "--json")
    assert planned.exit_code == 0, planned.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert json.loads(est.output)["notes"] == manifest["counts"]["plans"] > 0


def test_cohort_refill_counts_each_note_once(tmp_path):
    # a near-duplicate threshold this low rejects most template notes at the cohort stage: they are regenerated
    cfg = config(tmp_path, '"near_duplicate"', "options = {near_duplicate = {threshold = 0.05}}")
    pipe = Pipeline(load_config(cfg), tmp_path / "run")
    manifest = pipe.run()
    st = pipe.stats
    with RunView(tmp_path / "run") as view:
        regenerated = view.unit_totals()["regenerations"]
        ledger = list(view.rejections())
    assert regenerated > 0 and any(not r["final"] for r in ledger)
    assert st.total == st.done == manifest["counts"]["plans"]
    assert st.accepted + st.rejected + st.failed == st.total
    assert (st.accepted, st.rejected) == (
        manifest["counts"]["units"].get("accepted", 0),
        manifest["counts"]["units"].get("rejected", 0),
    )
    assert st.usage.cost_usd == manifest["counts"]["usage"]["cost_usd"]


def test_store_with_attempt_suffixes_migrates_to_the_attempt_column(tmp_path):
    cfg = config(tmp_path, '"length_form"', "options = {length_form = {min_words = 100000}}")  # rejects all
    run = tmp_path / "run"
    Pipeline(load_config(cfg), run).run()
    with RunView(run) as view:
        expected = sorted((r["record_id"], r["attempt"], r["final"]) for r in view.rejections())
    assert {a for _, a, _ in expected} == {0, 1, 2}
    # rewrite the ledger as an earlier version stored it: '<note>@<attempt>' for replaced attempts, no column
    with sqlite3.connect(run / "run.sqlite") as db:
        current = dict(db.execute("SELECT id, attempt FROM units"))
        rows = list(db.execute("SELECT record_id, filter, stage, data, enforced, attempt FROM rejections"))
        db.execute("DROP TABLE rejections")
        db.execute(
            "CREATE TABLE rejections (id TEXT PRIMARY KEY, record_id TEXT NOT NULL, filter TEXT NOT NULL, "
            "stage TEXT NOT NULL, data TEXT NOT NULL, enforced INTEGER NOT NULL DEFAULT 1)"
        )
        for record_id, name, stage, data, enforced, attempt in rows:
            old_id = record_id if attempt == current[record_id] else f"{record_id}@{attempt}"
            doc = {k: v for k, v in json.loads(data).items() if k != "attempt"} | {"record_id": old_id}
            db.execute(
                "INSERT INTO rejections VALUES (?, ?, ?, ?, ?, ?)",
                (f"{old_id}:{name}", old_id, name, stage, json.dumps(doc), enforced),
            )
    RunStore(run).close()  # opening it for writing migrates it
    with RunView(run) as view:
        assert sorted((r["record_id"], r["attempt"], r["final"]) for r in view.rejections()) == expected
        assert all(s == "rejected" for s in view.status.values())


def test_training_examples_are_the_accepted_labelled_sentences(tmp_path):
    from dualalign_core.training.data import run_examples

    run = tmp_path / "run"
    Pipeline(load_config(config(tmp_path)), run).run()
    examples, labels = run_examples(run)
    with RunView(run) as view:
        labelled = [
            (s.text, view.primary_labels[s.id].label)
            for n in view.accepted
            for s in view.sentences.get(n.id, ())
            if s.id in view.primary_labels and s.text.strip()
        ]
        pack = view.disease
    assert pack is not None and labels == [pack.negative_label, *pack.labels]
    assert [(e.text, e.label) for e in examples] == labelled and labelled

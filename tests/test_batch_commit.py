"""Group commit and bounded-memory cohort filters: a batch of units commits whole or not at all, a run killed
between batches resumes byte-identically, planning streams patient by patient, and streamed cohort filters
give the verdicts the all-in-memory ones do."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from dualalign_core.config import parse_config
from dualalign_core.fidelity import fidelity_report
from dualalign_core.filters.near_duplicate import NearDuplicateFilter
from dualalign_core.filters.temporal import TemporalRegressionFilter
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.run.store import RunStore, packed, unit_records
from dualalign_core.run.view import RunView, load_bundles, patient_bundles
from support import cli_env, dualalign, toy_config

KILL_AFTER_BATCHES = """
import os, runpy, sys
from dualalign_core.run import store
commit, calls = store.RunStore.commit_units, [0]
def dying(self, results, **kw):
    calls[0] += 1
    if calls[0] == int(os.environ["BATCHES"]) + 1:
        os._exit(9)  # killed between two batches: the earlier ones are committed, nothing of this one
    return commit(self, results, **kw)
store.RunStore.commit_units = dying
sys.argv = ["dualalign", *sys.argv[1:]]
runpy.run_module("dualalign_core.cli", run_name="__main__")
"""


def _export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_kill_between_batches_then_resume_matches_uninterrupted_run(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "toy.toml", run="seed = 5\npatients = 8")
    env = cli_env(plugin_site, DUALALIGN_TESTKIT_DELAY="0.02", BATCHES="2")
    reference = tmp_path / "reference"
    assert dualalign("run", str(cfg), "--out", str(reference), "--quiet", env=env).returncode == 0

    killed = tmp_path / "killed"
    script = tmp_path / "dying.py"
    script.write_text(KILL_AFTER_BATCHES)
    cmd = [sys.executable, str(script), "run", str(cfg), "--out", str(killed), "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    with RunView(killed) as view:
        done, total = len(view.unit_outcomes()), len(view.plans)
        assert 0 < done < total
        for note in view.accepted:  # whole units only: every committed note has its sentences and labels
            assert view.sentences.get(note.id)
            assert {lb.sentence_id for lb in view.labels if lb.note_id == note.id} == {
                s.id for s in view.sentences[note.id]
            }

    again = dualalign("run", "--resume", "--out", str(killed), "--quiet", env=env)
    assert again.returncode == 0, again.stderr
    assert _export(killed, tmp_path / "e1") == _export(reference, tmp_path / "e2")


def _template_run(tmp_path: Path, patients: int = 3, **filters: dict) -> Pipeline:
    cfg = parse_config(
        {
            "run": {"seed": 4, "patients": patients, "max_notes_per_patient": 12},
            "disease": {"name": "alzheimers"},
            "generator": {"name": "template"},
            "annotator": {"name": "plan"},
            "filters": {"use": list(filters), "options": filters},
        }
    )
    return Pipeline(cfg, tmp_path / "run")


def test_a_failed_batch_commits_none_of_its_units(tmp_path):
    pipe = _template_run(tmp_path, patients=1)
    pipe.run()
    store = RunStore(tmp_path / "run")
    first, second = (store.stored_unit(p.id) for _, p in store.plans_of(store.personas()[0].id)[:2])
    assert first is not None and second is not None
    before = store.counts()
    clash = attrs.evolve(second, sentences=(*second.sentences, second.sentences[0]))  # a duplicate row fails
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_units([first, clash])
    assert store.counts() == before and store.stored_unit(first.plan_id) == first
    store.commit_units([packed(first), packed(second)])  # rows encoded by a worker write the same rows
    assert store.counts() == before and store.stored_unit(second.plan_id) == second
    assert unit_records(packed(second)) == (second.note, second.sentences, second.labels)
    store.close()


def test_streamed_cohort_filters_give_the_in_memory_verdicts(tmp_path):
    near = {"threshold": 0.09}  # template notes differ: a low threshold finds some
    pipe = _template_run(tmp_path, patients=4)  # no cohort filter ran: the near-duplicates are there to find
    assert pipe.run()["status"] == "finished"
    store = RunStore(tmp_path / "run")
    bundles = load_bundles(store, accepted_only=True, include_cohort=False)
    for f in (NearDuplicateFilter(**near), TemporalRegressionFilter()):
        listed = f.check_cohort(bundles, pipe.ctx)
        checker = f.cohort_checker(pipe.ctx, store.note_text)
        streamed = {k: v for patient in patient_bundles(store) for k, v in checker.add(patient).items()}
        assert streamed == listed
    assert NearDuplicateFilter(**near).check_cohort(bundles, pipe.ctx)  # the check had something to find
    store.close()


def test_planning_streams_into_the_store_what_plan_cohort_plans(tmp_path):
    pipe = _template_run(tmp_path, patients=5)
    cohort = pipe.sample()
    pipe.plan(fidelity=lambda personas, plans: fidelity_report(pipe.components.disease, personas, plans, 1.0))
    with RunView(tmp_path / "run") as view:
        assert list(view.plans.values()) == cohort.plans
        assert list(view.personas.values()) == cohort.personas
        assert list(view.store.timelines()) == cohort.timelines
        expected = fidelity_report(pipe.components.disease, cohort.personas, cohort.plans, 1.0)
    assert view.manifest["fidelity"] == expected  # measured over the stream, as over the whole cohort

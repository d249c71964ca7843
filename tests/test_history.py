"""Patient timelines: planned with the notes from the pack's history table, seen by every note."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dualalign_core.config import parse_config
from dualalign_core.history.render import history_fields
from dualalign_core.plugins import get_registry
from dualalign_core.run.pipeline import Pipeline
from support import ROOT, TOY_PACK, dualalign


def _cohort(tmp_path: Path, patients: int, seed: int = 1, disease: dict | None = None, **run):
    cfg = parse_config(
        {
            "run": {"seed": seed, "patients": patients, **run},
            "disease": disease or {"name": "alzheimers"},
            "generator": {"name": "template"},
            "filters": {"use": []},
        }
    )
    return Pipeline(cfg, tmp_path / f"run-{seed}").sample()


@pytest.fixture(scope="module")
def ad_history() -> dict:
    return get_registry().get("disease", "alzheimers").history


@pytest.fixture(scope="module")
def ad_cohort(tmp_path_factory):
    return _cohort(tmp_path_factory.mktemp("ad"), 40)


def test_every_patient_has_a_timeline_and_every_note_sees_it(ad_cohort):
    assert [t.persona_id for t in ad_cohort.timelines] == [p.id for p in ad_cohort.personas]
    assert all(p.context is not None for p in ad_cohort.plans)
    timelines = {t.persona_id: t for t in ad_cohort.timelines}
    for plan in ad_cohort.plans:
        t, ctx = plan.years_before_diagnosis, plan.context
        timeline = timelines[plan.persona_id]
        active = {m.drug for m in timeline.medications if m.start >= t and (m.stop is None or m.stop < t)}
        assert {m.drug for m in ctx.medications} == active
        assert not {m.drug for m in ctx.stopped} & active
        assert all(m.note_id == plan.id for m in ctx.measurements)
        assert {m.id for m in ctx.vitals()} == {"sbp", "dbp", "hr", "weight"}
        assert ctx.clinician is not None and plan.note_type in ctx.clinician.note_types
        assert {s.dimension for s in ctx.social} == {"living", "caregiver", "driving", "work"}


def test_same_seed_same_timelines_other_seed_others(tmp_path, ad_cohort):
    again = _cohort(tmp_path, 40)
    assert again.timelines == ad_cohort.timelines and again.plans == ad_cohort.plans
    assert _cohort(tmp_path, 40, seed=2).timelines != ad_cohort.timelines


def test_scores_follow_the_stage_means_only_at_note_types_that_give_them(ad_cohort, ad_history):
    by_stage: dict[str, list[float]] = {}
    given_at = {s["id"]: s["given_at"] for s in ad_history["scores"]}
    for plan in ad_cohort.plans:
        for m in plan.context.scores():
            assert given_at[m.id].get(plan.note_type, 0) > 0, (plan.note_type, m.id)
            assert 0 <= m.value <= 30
            if m.id == "moca":
                by_stage.setdefault(plan.stage, []).append(m.value)
    means = [np.mean(by_stage[s]) for s in ("mci", "mild", "moderate")]
    assert means[0] > means[1] > means[2], means
    assert abs(means[0] - 22.1) < 2.5 and abs(means[1] - 16.2) < 3.5


def test_a_planned_stopped_driving_term_means_the_timeline_has_stopped(ad_cohort):
    seen = 0
    for plan in ad_cohort.plans:
        if any(t.term_id == "stopped_driving" for t in plan.required_terms):
            seen += 1
            driving = {s.dimension: s.state for s in plan.context.social}["driving"]
            assert driving == "stopped", plan.id
    assert seen  # 40 patients' full histories plan the term somewhere


def test_stopped_medications_are_reported_once_then_former(ad_cohort):
    stops = 0
    for plan in ad_cohort.plans:
        for m in plan.context.stopped:
            stops += 1
            assert m.change == "stopped" and m.reason
            assert m.drug not in {a.drug for a in plan.context.medications}
    assert stops


def test_prompt_fields_render_the_record(ad_cohort):
    plan = next(p for p in ad_cohort.plans if p.context.scores() and p.context.medications)
    fields = history_fields(plan.context, None, plan.years_before_diagnosis)
    for m in plan.context.medications:
        assert f"{m.drug} {m.dose}" in fields["medications"]
    for m in plan.context.scores():
        assert f"{m.title} {m.value:g}/30" in fields["scores"]
    assert re.search(r"BP \d+/\d+", fields["vitals"])
    assert plan.context.clinician.role in fields["clinician"]
    assert fields["previous_notes"] == "(not provided)"


def test_pack_without_history_plans_no_timeline(tmp_path):
    cohort = _cohort(tmp_path, 5, disease={"path": TOY_PACK.as_posix()})
    assert cohort.timelines == [] and all(p.context is None for p in cohort.plans)
    fields = history_fields(None, None, 1.0)
    assert fields["medications"] == "not recorded"


def _doc_example() -> dict:
    text = (ROOT / "docs" / "tutorials" / "disease-pack.md").read_text(encoding="utf-8")
    section = text.split("## 4. A patient timeline", 1)[1]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def _pack_with_history(tmp_path: Path, history: dict) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(TOY_PACK, pack)
    manifest = json.loads((pack / "disease.json").read_text())
    manifest["files"]["history"] = "history.json"
    (pack / "disease.json").write_text(json.dumps(manifest))
    (pack / "history.json").write_text(json.dumps(history))
    return pack


def test_the_tutorials_history_table_validates_and_runs(tmp_path):
    """The disease-pack tutorial's worked example, as written, on the data-only toy pack, through the CLI."""
    pack = _pack_with_history(tmp_path, _doc_example())
    assert dualalign("validate", str(pack)).returncode == 0
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[run]\nseed = 3\npatients = 12\n[disease]\npath = "{pack.as_posix()}"\n'
        '[generator]\nname = "template"\n[filters]\nuse = []\n'
    )
    done = dualalign("run", str(cfg), "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    timelines = [json.loads(r[0]) for r in db.execute("SELECT data FROM timelines ORDER BY seq")]
    plans = [json.loads(r[0]) for r in db.execute("SELECT data FROM plans ORDER BY seq")]
    assert len(timelines) == 12
    drugs = {m["drug"] for t in timelines for m in t["medications"]}
    assert drugs <= {"carbidopa-levodopa"} and drugs
    for plan in plans:
        for m in plan["context"]["measurements"]:
            if m["kind"] == "score":
                assert m["id"] == "updrs3" and plan["note_type"] == "neurology"
        assert plan["context"]["clinician"]["style"][0][0] == "length"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda h: h["events"][0]["rate_per_year_by_stage"].update(late=1.0), "events[0].rate_per_year_by_stage.late"),
        (lambda h: h["conditions"].update(gout=h["conditions"]["motor_symptoms"]), "conditions.gout"),
        (lambda h: h["scores"][0].update(patterns=["UPDRS("]), "scores[0].patterns[0]"),
        (lambda h: h["social"][0]["initial"].update(flies=1), "social[0].initial"),
        (lambda h: h["events"][0].update(source="nowhere"), "events[0].source"),
        (lambda h: h["scores"][0].update(given_at={"surgery": 1}), "scores[0].given_at.surgery"),
    ],
)
def test_a_bad_history_table_is_exit_2_naming_file_and_field(tmp_path, edit, field):
    history = _doc_example()
    edit(history)
    pack = _pack_with_history(tmp_path, history)
    done = dualalign("validate", str(pack))
    assert done.returncode == 2
    assert "history.json" in done.stderr and field in done.stderr, done.stderr

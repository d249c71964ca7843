"""A data-only disease pack installed as its own distribution (tests/fixtures/dualalign_nosymptom, negative
label ``no_symptom``), found through its entry point like a user's: ``run`` by name, ``annotate`` choosing
the pack only when more than one is installed, and the pack's labels everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import FIXTURES, cli_env, dualalign, pip_install_target

PACK = "toy_no_symptom"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("pack-site")
    pip_install_target(target, str(FIXTURES / "dualalign_nosymptom"))
    return target


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_installed_pack_is_listed_and_runs_by_name_with_its_negative_label(site, tmp_path):
    listed = dualalign("plugins", "--json", site=site)
    assert listed.returncode == 0, listed.stderr
    rows = {p["name"]: p for p in json.loads(listed.stdout)}
    assert rows["nosymptom"]["status"] == "ok"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[run]\nseed = 2\npatients = 3\n\n[disease]\nname = "{PACK}"\n\n[generator]\nname = "template"\n\n'
        '[annotator]\nname = "plan"\n'
    )
    run = tmp_path / "run"
    res = dualalign("run", str(cfg), "--out", str(run), "--quiet", site=site)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "export"
    assert dualalign("export", str(run), "--format", "jsonl", "--out", str(out), site=site).returncode == 0
    labels = _rows(out / "labels.jsonl")
    assert {lab["label"] for lab in labels} <= {
        "no_symptom",
        "motor_symptoms",
        "nonmotor_symptoms",
        "reported_by_family",
    }
    assert {lab["binary"] for lab in labels} == {True, False}  # both classes, the pack's negative label
    assert all(lab["binary"] == (lab["label"] != "no_symptom") for lab in labels)


def test_annotate_needs_disease_only_when_two_packs_are_installed(site, tmp_path):
    texts = tmp_path / "in.jsonl"
    texts.write_text('{"text": "Resting tremor of the right hand. Vitals stable."}\n')
    both = dualalign("annotate", str(texts), "--annotator", "lexicon", "--out", str(tmp_path / "a.jsonl"), site=site)
    # the repo's AD pack is installed too: two packs, so the command must be told which
    assert both.returncode == 2 and "--disease" in both.stderr and PACK in both.stderr and "alzheimers" in both.stderr
    assert not (tmp_path / "a.jsonl").exists() and "Traceback" not in both.stderr
    chosen = dualalign(
        "annotate",
        str(texts),
        "--annotator",
        "lexicon",
        "--disease",
        PACK,
        "--out",
        str(tmp_path / "b.jsonl"),
        site=site,
    )
    assert chosen.returncode == 0, chosen.stderr
    labels = [r["label"] for r in _rows(tmp_path / "b.jsonl")]
    assert labels == ["motor_symptoms", "no_symptom"]
    alone = dualalign(
        "annotate",
        str(texts),
        "--annotator",
        "lexicon",
        "--out",
        str(tmp_path / "c.jsonl"),
        env=cli_env(site, DUALALIGN_PLUGINS="core,nosymptom"),
    )
    assert alone.returncode == 0, alone.stderr  # one pack installed: no --disease needed
    assert [r["label"] for r in _rows(tmp_path / "c.jsonl")] == labels

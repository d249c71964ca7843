"""A run killed with SIGKILL mid-way and resumed equals an uninterrupted run, byte for byte."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dualalign_core.errors import BadInput
from dualalign_core.run.view import RunView
from support import cli_env, dualalign, toy_config


def _units(db: Path) -> int:
    try:
        with RunView(db.parent) as view:
            return len(view.unit_outcomes())
    except (sqlite3.Error, BadInput):
        return 0


def _export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_sigkill_then_resume_matches_uninterrupted_run(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "toy.toml", run="seed = 5\npatients = 8")
    env = cli_env(plugin_site, DUALALIGN_TESTKIT_DELAY="0.04")

    reference = tmp_path / "reference"
    done = dualalign("run", str(cfg), "--out", str(reference), "--quiet", env=env)
    assert done.returncode == 0, done.stderr

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--out", str(killed), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while _units(killed / "run.sqlite") < 12 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _units(killed / "run.sqlite")
    total = _units(reference / "run.sqlite")
    assert 0 < partial < total, (partial, total)

    again = dualalign("run", str(cfg), "--out", str(killed), "--quiet", env=env)
    assert again.returncode == 2 and "--resume" in again.stderr  # never silently overwrites

    resumed = dualalign("run", "--resume", "--out", str(killed), "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stderr

    a = _export(reference, tmp_path / "export-a")
    b = _export(killed, tmp_path / "export-b")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], f"{name} differs after resume"
    notes = a["notes.jsonl"].decode().splitlines()
    ids = [line.split('"id":"')[1].split('"')[0] for line in notes]
    assert len(ids) == len(set(ids)) == total


def test_resume_with_nothing_left_is_a_no_op(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "toy.toml", run="seed = 2\npatients = 2")
    run = tmp_path / "run"
    assert dualalign("run", str(cfg), "--out", str(run), "--quiet", site=plugin_site).returncode == 0
    before = _export(run, tmp_path / "e1")
    again = dualalign("run", str(cfg), "--resume", "--out", str(run), "--quiet", site=plugin_site)
    assert again.returncode == 0, again.stderr
    assert _export(run, tmp_path / "e2") == before


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_random_sigkills_then_resume_match_uninterrupted_run(plugin_site, tmp_path, seed):
    """One to three SIGKILLs at random moments (start-up, planning, mid-units, commit) then a resume: the
    exports equal an uninterrupted run's, byte for byte, with every note once."""
    rng = random.Random(seed)
    cfg = toy_config(tmp_path / "toy.toml", run=f"seed = {seed}\npatients = 8")
    env = cli_env(plugin_site, DUALALIGN_TESTKIT_DELAY="0.02")
    reference = tmp_path / "reference"
    assert dualalign("run", str(cfg), "--out", str(reference), "--quiet", env=env).returncode == 0
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--resume", "--out", str(killed), "--quiet"]
    total = _units(reference / "run.sqlite")
    kills: list[int] = []
    for _ in range(rng.randint(1, 3)):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rng.random() < 0.25:  # during start-up or planning, before any unit commits
            time.sleep(rng.uniform(0.1, 1.5))
        else:  # after a random number of committed units, a few ms later: mid-unit or mid-commit
            target, deadline = rng.randrange(max(kills, default=0), total), time.time() + 60
            while _units(killed / "run.sqlite") < target and proc.poll() is None and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills.append(_units(killed / "run.sqlite"))
        proc.wait()
    resumed = dualalign("run", str(cfg), "--resume", "--out", str(killed), "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stderr
    a = _export(reference, tmp_path / "export-a")
    b = _export(killed, tmp_path / "export-b")
    assert a == b, f"exports differ after kills at {kills} units"
    print(f"seed {seed}: killed at units {kills}, total {total}")

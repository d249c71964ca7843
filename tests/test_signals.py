"""SIGTERM and SIGINT stop `run` and `merge` alike: manifest ``interrupted``, exit 143 / 130, the command that
continues printed; plugin faults that used to escape isolation (a generator raising ``CancelledError`` or
``KeyboardInterrupt``, a cohort verdict for an unknown note) are a failed unit, a clean interrupt and a
``ComponentError`` naming the plugin (issue 21, item 9). Signals are sent once the run reports progress
(polled, never timed).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli_errors import assert_clean, faulty, faulty_config, faulty_env, faulty_site  # noqa: F401

from dualalign_core.run.view import RunView
from support import committed_units, dualalign

SIGNALS = [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
IDS = ["SIGTERM", "SIGINT"]


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "dualalign_core.cli", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_when(proc: subprocess.Popen[str], ready: Callable[[], bool], signum: int) -> str:
    """Send ``signum`` once ``ready()`` holds (the process still running); its stderr."""
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1]
    assert ready(), "no progress within 120 s"
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    return stderr


def assert_one_interrupt_line(stderr: str, signum: int, *needles: str) -> None:
    assert "Traceback" not in stderr and "never retrieved" not in stderr and "internal error" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if "interrupted" in ln]
    assert len(lines) == 1 and f"interrupted by {signal.Signals(signum).name}" in lines[0], stderr
    for needle in needles:
        assert needle in lines[0], (needle, stderr)


@pytest.mark.parametrize(("signum", "code"), SIGNALS, ids=IDS)
def test_a_signal_leaves_a_local_run_interrupted_and_resumable(faulty_site, tmp_path, signum, code):  # noqa: F811
    run = tmp_path / "run"
    cfg = faulty_config(tmp_path / "c.toml")
    proc = start(["run", str(cfg), "--out", str(run), "--quiet"], faulty_env(faulty_site, "gen-wait"))
    stderr = signal_when(proc, lambda: committed_units(run) > 0, signum)  # the first note is made
    assert proc.returncode == code, stderr
    assert_one_interrupt_line(stderr, signum, f"dualalign run --resume --out {run}")
    m = manifest(run)
    assert m["status"] == "interrupted" and m["finished_at"], m
    assert m["stop_reason"] == ("interrupted by SIGTERM" if signum == signal.SIGTERM else "interrupted by the user")
    assert_clean(faulty(faulty_site, "", "run", "--resume", "--out", str(run), "--quiet"), 0)
    assert manifest(run)["status"] == "finished"


@pytest.mark.parametrize(("signum", "code"), SIGNALS, ids=IDS)
def test_a_signal_stops_a_merge_keeping_nothing(faulty_site, tmp_path, signum, code):  # noqa: F811
    cfg = faulty_config(tmp_path / "c.toml", filters='use = ["bad-cohort"]')
    shards = [str(tmp_path / f"s{k}") for k in (1, 2)]
    for k, shard in enumerate(shards, 1):
        assert_clean(faulty(faulty_site, "", "run", str(cfg), "--out", shard, "--shard", f"{k}/2", "-q"), 0)
    out, mark = tmp_path / "merged", tmp_path / "refill-started"
    env = {**faulty_env(faulty_site, "cohort-reject,gen-hang"), "DUALALIGN_FAULTY_MARK": str(mark)}
    proc = start(["merge", *shards, "--out", str(out), "--quiet"], env)
    stderr = signal_when(proc, mark.exists, signum)  # the cohort filter's refill is under way
    assert proc.returncode == code, stderr
    assert_one_interrupt_line(stderr, signum, "nothing was written", f"dualalign merge {' '.join(shards)} --out {out}")
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert_clean(faulty(faulty_site, "", "merge", *shards, "--out", str(out), "-q"), 0)
    assert manifest(out)["status"] == "finished"


def test_a_generator_raising_cancelled_error_fails_its_units(faulty_site, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    res = faulty(faulty_site, "gen-cancel", "run", str(faulty_config(tmp_path / "c.toml")), "--out", str(run), "-q")
    out = assert_clean(res, 1, "run failed", "generator 'faulty-gen'", "CancelledError", "--resume")
    assert "internal error" not in out and "never retrieved" not in out
    assert manifest(run)["status"] == "finished_with_failures"
    with RunView(run) as view:
        errors = [e for _, e in view.failed_units()]
    assert errors and all("faulty-gen" in e and "CancelledError" in e for e in errors)
    assert_clean(faulty(faulty_site, "", "run", "--resume", "--out", str(run), "-q"), 0)


def test_a_generator_raising_keyboard_interrupt_interrupts_the_run_cleanly(faulty_site, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    cfg = faulty_config(tmp_path / "c.toml")
    args = ("run", str(cfg), "--out", str(run), "-q")
    res = dualalign(*args, env=faulty_env(faulty_site, "gen-interrupt"), separate=True)  # a real process's signals
    assert res.returncode == 130, res.stderr
    assert_one_interrupt_line(res.stderr, signal.SIGINT, f"dualalign run --resume --out {run}")
    assert manifest(run)["status"] == "interrupted"
    assert_clean(faulty(faulty_site, "", "run", "--resume", "--out", str(run), "-q"), 0)
    assert manifest(run)["status"] == "finished"


def test_a_cohort_verdict_for_an_unknown_note_names_the_plugin(faulty_site, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    cfg = faulty_config(tmp_path / "c.toml", filters='use = ["bad-cohort"]')
    for args in (("run", str(cfg), "--out", str(run), "-q"), ("run", "--resume", "--out", str(run), "-q")):
        res = faulty(faulty_site, "cohort-unknown", *args)
        out = assert_clean(res, 1, "filter 'bad-cohort'", "dualalign-faulty", "check_cohort", "'no-such-note'")
        assert "KeyError" not in out and "internal error" not in out
        m = manifest(run)
        assert m["status"] == "failed" and "bad-cohort" in m["stop_reason"]

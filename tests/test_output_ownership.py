"""Data loss through the CLI (issue 21, items 1-4): one output writer (never the command's input, a run's file
or someone else's file), annotate's edited output, markers that list the whole tree, one process per run
directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualalign_core.atomic import MARKER
from dualalign_core.cli import app
from support import ROOT, cli_env

CONFIG = ROOT / "examples" / "alzheimers-template.toml"
TEXTS = [
    {"id": "a", "text": "She forgets appointments and repeats questions."},
    {"id": "b", "text": "Walks daily. Sleeps well. Needs help with her medications."},
    {"id": "c", "text": "Family notice she gets lost in familiar places."},
]


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, *names: object) -> str:
    """Exit 2 with one error line naming each of ``names``, no traceback."""
    text = result.output.replace("\n", "")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in text and text.count("error:") == 1, text
    for name in names:
        assert str(name) in text, (name, text)
    return text


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories), SQLite's WAL side files left out."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if not p.name.endswith(("-wal", "-shm"))
    }


def texts(path: Path) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in TEXTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    result = cli("run", CONFIG, "--out", run, "--patients", "2", "--quiet")
    assert result.exit_code == 0, result.output
    return run


def copy_run(run: Path, dst: Path) -> Path:
    return Path(shutil.copytree(run, dst))


# -- item 1: one output writer --------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["own-input", "run.sqlite", "manifest.json", "foreign", "directory"])
def test_annotate_out_is_never_its_input_a_run_file_or_someone_elses(run_dir, tmp_path, case):
    src = texts(tmp_path / "in.jsonl")
    run = copy_run(run_dir, tmp_path / "run")
    (tmp_path / "thesis.jsonl").write_text('{"years": "of work"}\n')
    target = {
        "own-input": src,
        "run.sqlite": run / "run.sqlite",
        "manifest.json": run / "manifest.json",
        "foreign": tmp_path / "thesis.jsonl",
        "directory": run,
    }[case]
    before = tree(tmp_path)
    refused(cli("annotate", src, "--out", target), target, "--out")
    assert tree(tmp_path) == before  # nothing written: no output, no state directory


def test_annotate_replaces_only_its_own_earlier_output(tmp_path):
    src, out = texts(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    out.write_text("")  # an empty file holds nothing to lose
    assert cli("annotate", src, "--out", out).exit_code == 0
    first = out.read_bytes()
    assert cli("annotate", src, "--out", out).exit_code == 0 and out.read_bytes() == first  # its own: resumed
    (tmp_path / "out.jsonl.state" / "mine.txt").write_text("x")  # a state directory that is not annotate's
    refused(cli("annotate", src, "--out", out), "out.jsonl.state")


def test_annotate_to_a_pipe_or_dev_null_keeps_no_state(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = cli("annotate", texts(tmp_path / "in.jsonl"), "--out", fifo)
    reader.join(timeout=60)  # the reader is a daemon: one still waiting (annotate never wrote) dies with pytest
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sentences"] == len(got[0].splitlines()) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "pipe"]  # no pipe.state/
    if Path("/dev/null.state").exists() or not os.access("/dev/null", os.W_OK):
        return  # left by something else on this machine, or no /dev/null to write
    assert cli("annotate", tmp_path / "in.jsonl", "--out", "/dev/null").exit_code == 0
    assert not Path("/dev/null.state").exists()


def test_agreement_review_is_never_an_input_or_someone_elses(tmp_path):
    src = texts(tmp_path / "in.jsonl")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert cli("annotate", src, "--out", a).exit_code == 0
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    b.write_text("".join(json.dumps({**row, "label": "none"}) + "\n" for row in rows))
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"my": "notes"}\n')
    before = tree(tmp_path)
    for target in (a, b, mine):
        refused(cli("agreement", a, b, "--review", target), target, "--review")
    assert tree(tmp_path) == before
    review = tmp_path / "review.jsonl"
    for _ in range(2):  # an earlier review nobody adjudicated yet is replaced
        assert cli("agreement", a, b, "--review", review).exit_code == 0
    rows = [json.loads(line) for line in review.read_text().splitlines()]
    review.write_text("".join(json.dumps({**r, "adjudicated_label": "none"}) + "\n" for r in rows))
    adjudicated = review.read_bytes()
    refused(cli("agreement", a, b, "--review", review), review, "adjudications")
    assert review.read_bytes() == adjudicated


def test_review_export_is_never_a_run_file_or_someone_elses(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path / "run")
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"my": "notes"}\n')
    before = tree(tmp_path)
    for target in (run / "manifest.json", run / "run.sqlite", mine):
        refused(cli("export", run, "--format", "review", "--out", target), target, "--out")
    assert tree(tmp_path) == before
    for _ in range(2):
        assert cli("export", run, "--format", "review", "--out", tmp_path / "r.jsonl").exit_code == 0


def test_report_json_is_not_its_html(run_dir, tmp_path):
    same = tmp_path / "r.html"
    refused(cli("report", run_dir, "--no-embeddings", "--out", same, "--json", same), same, "--json")
    assert not same.exists()


# -- item 2: annotate after its output was edited -------------------------------------------------------------
@pytest.mark.parametrize("edit", ["truncated", "changed", "appended", "emptied"])
def test_annotate_rerun_after_the_output_was_edited_names_it_and_keeps_it(tmp_path, edit):
    src, out = texts(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    assert cli("annotate", src, "--out", out).exit_code == 0
    data = out.read_bytes()
    edited = {
        "truncated": data[: len(data) // 2],
        "changed": data.replace(b'"label": "', b'"label": "X', 1),
        "appended": data + b'{"my": "row"}\n',
        "emptied": b"",
    }[edit]
    out.write_bytes(edited)
    refused(cli("annotate", src, "--out", out), out, "--out", "delete it to start over")
    assert out.read_bytes() == edited and b"\0" not in out.read_bytes()  # never padded, never rewritten
    out.unlink()  # a deleted output starts over
    assert cli("annotate", src, "--out", out).exit_code == 0 and out.read_bytes() == data


def test_annotate_killed_between_rows_and_commit_drops_the_tail_on_rerun(tmp_path, monkeypatch):
    from dualalign_core.run.store import RunStore

    src, out, clean = texts(tmp_path / "in.jsonl"), tmp_path / "out.jsonl", tmp_path / "clean.jsonl"
    assert cli("annotate", src, "--out", clean).exit_code == 0
    commit = RunStore.commit_units
    calls = []

    def killed_on_the_second(self, results, **kwargs):  # the second record's rows are written, then the kill
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return commit(self, results, **kwargs)

    monkeypatch.setattr(RunStore, "commit_units", killed_on_the_second)
    assert cli("annotate", src, "--out", out).exit_code == 130
    monkeypatch.setattr(RunStore, "commit_units", commit)
    assert len(out.read_bytes()) > len(clean.read_bytes()) // 3  # a tail of uncommitted rows
    result = cli("annotate", src, "--out", out)
    assert result.exit_code == 0 and json.loads(result.stdout)["resumed_done"] == 1, result.output
    assert out.read_bytes() == clean.read_bytes()


# -- item 3: a re-export never deletes what the user added inside it ------------------------------------------
@pytest.mark.parametrize("fmt, folder", [("fhir", "fhir"), ("hf", "train")])
def test_reexport_keeps_files_added_inside_its_subfolders(run_dir, tmp_path, fmt, folder):
    if fmt == "hf":
        pytest.importorskip("datasets")
    out = tmp_path / "out"
    assert cli("export", run_dir, "--format", fmt, "--out", out).exit_code == 0
    listed = json.loads((out / MARKER).read_text())["files"]
    assert folder in listed and any(p.startswith(f"{folder}/") for p in listed)  # the whole tree
    first = tree(out)
    assert cli("export", run_dir, "--format", fmt, "--out", out).exit_code == 0 and tree(out) == first
    (out / folder / "my-notes.txt").write_text("added by the user")
    refused(cli("export", run_dir, "--format", fmt, "--out", out), out, f"{folder}/my-notes.txt")
    assert (out / folder / "my-notes.txt").read_text() == "added by the user"


def test_export_under_an_older_top_level_marker_is_refused(run_dir, tmp_path):
    out = tmp_path / "out"
    assert cli("export", run_dir, "--format", "fhir", "--out", out).exit_code == 0
    (out / MARKER).write_text(json.dumps({"kind": "export-fhir", "files": ["DATASET_CARD.md", "fhir"]}))
    (out / "fhir" / "mine.json").write_text("{}")
    refused(cli("export", run_dir, "--format", "fhir", "--out", out), out, "older DualAlign")
    assert (out / "fhir" / "mine.json").exists()


# -- item 4: one process per run directory --------------------------------------------------------------------
HOLD = """
import sys
from dualalign_core.run.lock import acquire
lock = acquire(sys.argv[1], create=False)
print("held", flush=True)
sys.stdin.read()
"""


class Holder:
    """Another process holding a directory's lock (through the same function the CLI uses) until stopped."""

    def __init__(self, folder: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)  # the OS releases the lock of a killed process
        self.proc.wait(timeout=60)


def test_a_second_process_on_a_locked_directory_exits_2_naming_the_holder(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path / "run")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    src, out = texts(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    assert cli("annotate", src, "--out", out).exit_code == 0
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for k, shard in enumerate(shards, 1):
        result = cli("run", CONFIG, "--patients", "2", "--shard", f"{k}/2", "--out", shard, "--quiet")
        assert result.exit_code == 0, result.output
    holders = [Holder(d) for d in (run, fresh, tmp_path / "out.jsonl.state", shards[1])]
    try:
        before = tree(tmp_path)
        pids = [str(h.proc.pid) for h in holders]
        refused(cli("run", "--resume", "--out", run, "--quiet"), run, f"pid {pids[0]}")
        refused(cli("run", CONFIG, "--out", fresh, "--quiet"), fresh, f"pid {pids[1]}")
        refused(cli("annotate", src, "--out", out), "out.jsonl.state", f"pid {pids[2]}")
        refused(cli("merge", *shards, "--out", tmp_path / "merged", "--quiet"), shards[1], f"pid {pids[3]}")
        assert tree(tmp_path) == before
    finally:
        for h in holders:
            h.kill()
    assert cli("run", "--resume", "--out", run, "--quiet").exit_code == 0  # the killed holder's lock is gone
    assert cli("run", CONFIG, "--patients", "2", "--out", fresh, "--quiet").exit_code == 0
    assert cli("merge", *shards, "--out", tmp_path / "merged", "--quiet").exit_code == 0
    for d in (run, fresh, tmp_path / "merged", *shards):
        assert not (d / ".lock").exists()  # a released lock leaves no file behind


def test_a_run_started_by_another_process_meanwhile_is_not_run_again(tmp_path):
    from dualalign_core.config import load_config
    from dualalign_core.errors import BadInput
    from dualalign_core.run.pipeline import Pipeline

    run = tmp_path / "run"
    waiting = Pipeline(load_config(CONFIG).override(patients=2), run)  # looked before the other one started
    assert cli("run", CONFIG, "--patients", "2", "--out", run, "--quiet").exit_code == 0
    before = tree(run)
    with pytest.raises(BadInput, match="another process started it meanwhile"):
        waiting.run()
    assert tree(run) == before

"""The CLI's one error boundary: every bad input, broken plugin, bad path or interrupt is an exit code and one
unwrapped line naming the file (and field or plugin), never a traceback (issue 14, items 3, 8-12, 19)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualalign_core.cli import app, classify
from dualalign_core.run.view import RunView
from support import FIXTURES, TOY_PACK, cli_env, dualalign

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env={"DUALALIGN_DEBUG": "", **(env or {})})


def assert_clean(res, code: int, *needles: str) -> str:
    """Exit ``code``, no traceback, every needle in the output; returns the output."""
    if isinstance(res, subprocess.CompletedProcess):
        got, output = res.returncode, res.stdout + res.stderr
    else:
        got, output = res.exit_code, res.output
    assert got == code, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, (needle, output)
    return output


def core_config(path: Path, *, patients: int = 2, extra: str = "") -> Path:
    """A toy-pack config with core components only: fast, offline."""
    path.write_text(
        f"[run]\nseed = 3\npatients = {patients}\nmax_notes_per_patient = 2\n\n"
        f'[disease]\npath = "{TOY_PACK.as_posix()}"\n\n[trajectory]\nmultiplier = 2\n\n'
        f"[filters]\nuse = []\n{extra}"
    )
    return path


@pytest.fixture(scope="module")
def faulty_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fault-injecting plugin, made discoverable without pip: its package plus a ``.dist-info``."""
    site = tmp_path_factory.mktemp("faulty-site")
    shutil.copytree(FIXTURES / "dualalign_faulty" / "dualalign_faulty", site / "dualalign_faulty")
    info = site / "dualalign_faulty-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dualalign-faulty\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[dualalign]\nfaulty = dualalign_faulty\n")
    return site


def faulty_env(site: Path, mode: str) -> dict[str, str]:
    """Only the core and the faulty plugin load (vendor SDK imports would make each call seconds slower)."""
    return cli_env(site, DUALALIGN_FAULTY=mode, DUALALIGN_PLUGINS="faulty")


def faulty(site: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return dualalign(*args, env=faulty_env(site, mode))


def faulty_config(path: Path, filters: str = "use = []") -> Path:
    path.write_text(
        f"[run]\nseed = 5\npatients = 2\nmax_notes_per_patient = 2\n\n"
        f'[disease]\npath = "{TOY_PACK.as_posix()}"\n\n[trajectory]\nmultiplier = 2\n\n'
        f'[generator]\nname = "faulty-gen"\n\n[filters]\n{filters}\n'
    )
    return path


# -- the boundary itself ----------------------------------------------------------------------------------
def test_every_command_goes_through_the_boundary():
    callbacks = {c.callback.__name__: c.callback for c in app.registered_commands}
    assert {"run", "plan", "annotate", "agreement", "train", "evaluate", "ablate"} <= set(callbacks)
    assert all(getattr(cb, "_dualalign_handled", False) for cb in callbacks.values()), callbacks


def test_message_with_a_long_path_is_one_unwrapped_line(tmp_path):
    deep = tmp_path / ("a-rather-long-directory-name-" * 4) / "and-a-config-file-name-too.toml"
    res = dualalign("validate", str(deep), env=cli_env(COLUMNS="20", DUALALIGN_PLUGINS="core"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert any(str(deep) in line for line in res.stderr.splitlines()), res.stderr


def test_internal_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, tmp_path):
    import dualalign_core.cli_validate

    def boom(path):
        raise ValueError("unexpected on purpose")

    monkeypatch.setattr(dualalign_core.cli_validate, "validate_path", boom)
    res = invoke("validate", str(tmp_path))
    out = assert_clean(res, 1, "internal error: ValueError: unexpected on purpose", "DUALALIGN_DEBUG=1")
    assert len(out.strip().splitlines()) == 1
    res = invoke("validate", str(tmp_path), env={"DUALALIGN_DEBUG": "1"})
    assert res.exit_code == 1 and "Traceback" in res.output and "unexpected on purpose" in res.output


@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/in.toml"), 2, "/x/in.toml: No such file"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/out"), 1, "/x/out: No space left"),
        (sqlite3.DatabaseError("file is not a database"), 2, "run.sqlite"),
        (sqlite3.OperationalError("database is locked"), 1, "locked"),
        (json.JSONDecodeError("Expecting value", "{", 1), 2, "invalid JSON at line 1 column 2"),
        (UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"), 2, "byte offset 0"),
        (SystemExit(4), 1, "sys.exit(4)"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_classify_maps_errors_to_exit_codes(exc, code, needle):
    got, message = classify(exc)
    assert got == code and needle in message and "\n" not in message


# -- item 9: encodings ------------------------------------------------------------------------------------
def test_latin1_config_names_file_line_and_offset(tmp_path):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes('[run]\nseed = 1\nname = "caf\u00e9"\n'.encode("latin-1"))
    for command in (("validate", str(cfg)), ("run", str(cfg), "--out", str(tmp_path / "r"))):
        assert_clean(invoke(*command), 2, str(cfg), "not valid UTF-8", "line 3, column 12", "byte offset 26")
    assert not (tmp_path / "r").exists()


def test_bom_configs_are_read(tmp_path):
    text = core_config(tmp_path / "plain.toml").read_text()
    for name, data in (("utf8bom.toml", b"\xef\xbb\xbf" + text.encode()), ("utf16.toml", text.encode("utf-16"))):
        (tmp_path / name).write_bytes(data)
        assert_clean(invoke("validate", str(tmp_path / name)), 0, "run config")
    (tmp_path / "utf16le.toml").write_bytes(text.encode("utf-16-le"))  # no byte-order mark: refused
    assert_clean(invoke("validate", str(tmp_path / "utf16le.toml")), 2, "utf16le.toml", "NUL bytes", "UTF-8")


@pytest.mark.parametrize("member", ["lexicon.json", "prompt.toml", "protocol.md"])
def test_non_utf8_pack_files_are_named(tmp_path, member):
    pack = tmp_path / "pack"
    shutil.copytree(TOY_PACK, pack)
    (pack / member).write_bytes((pack / member).read_bytes().replace(b"e", b"\xe9", 1))
    assert_clean(invoke("validate", str(pack)), 2, str(pack / member), "not valid UTF-8", "byte offset")


def test_directory_where_a_file_is_expected(tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(TOY_PACK, pack)
    (pack / "protocol.md").unlink()
    (pack / "protocol.md").mkdir()
    assert_clean(invoke("validate", str(pack)), 2, str(pack / "protocol.md"), "is a directory")
    assert_clean(invoke("run", str(tmp_path), "--out", str(tmp_path / "r")), 2, str(tmp_path), "is a directory")
    assert_clean(invoke("annotate", str(tmp_path), "--out", str(tmp_path / "o.jsonl")), 2, "is a directory")


def test_latin1_and_surrogate_annotate_input(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes('{"text": "ok"}\n{"text": "caf\u00e9 confusion"}\n'.encode("latin-1"))
    assert_clean(
        invoke("annotate", str(src), "--out", str(tmp_path / "o.jsonl")), 2, str(src), "line 2", "not valid UTF-8"
    )
    src.write_text('{"text": "ok"}\n{"text": "bad \\ud800 text"}\n')
    assert_clean(
        invoke("annotate", str(src), "--out", str(tmp_path / "o.jsonl")), 2, str(src), "line 2", "lone surrogate"
    )
    assert not (tmp_path / "o.jsonl").exists()


def test_latin1_and_surrogate_gold(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_bytes('{"text": "caf\u00e9", "label": "none"}\n'.encode("latin-1"))
    assert_clean(invoke("evaluate", str(tmp_path), "--gold", str(gold)), 2, str(gold), "not valid UTF-8", "line 1")
    gold.write_text('{"text": "ok", "label": "none"}\n{"text": "\\udc80", "label": "none"}\n')
    assert_clean(invoke("evaluate", str(tmp_path), "--gold", str(gold)), 2, f"{gold}:2", "lone surrogate")


# -- item 10: output paths, corrupt run files -------------------------------------------------------------
def test_out_paths_that_cannot_be_used(tmp_path):
    cfg = core_config(tmp_path / "c.toml")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "Pt reports tremor.", "label": "none"}\n')
    cases = [
        (("run", str(cfg), "--out", str(a_file)), f"--out {a_file}", "is a file"),
        (("plan", str(cfg), "--out", str(a_file / "run")), f"--out {a_file / 'run'}", "is a file, not a directory"),
        (("annotate", str(src), "--out", str(tmp_path)), f"--out {tmp_path}", "is a directory"),
        (("annotate", str(src), "--out", str(a_file / "o.jsonl")), str(a_file / "o.jsonl"), "not a directory"),
        (("agreement", str(src), str(src), "--review", str(tmp_path)), f"--review {tmp_path}", "is a directory"),
        (("agreement", str(src), str(src), "--review", str(a_file / "r.jsonl")), "--review", "not a directory"),
    ]
    for args, where, why in cases:
        assert_clean(invoke(*args), 2, where, why)
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_out_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cfg = core_config(tmp_path / "c.toml")
    assert_clean(invoke("plan", str(cfg), "--out", str(locked / "run")), 2, str(locked), "not writable")


def test_resume_with_corrupt_store_or_manifest(tmp_path):
    cfg = core_config(tmp_path / "c.toml")
    run = tmp_path / "run"
    assert_clean(invoke("plan", str(cfg), "--out", str(run)), 0)
    manifest = run / "manifest.json"
    good = manifest.read_bytes()
    manifest.write_text('{"status": "runn')
    assert_clean(invoke("run", "--resume", "--out", str(run), "--quiet"), 2, str(manifest), "invalid JSON")
    manifest.write_bytes(good)
    (run / "run.sqlite").write_bytes(b"this is not a database at all" * 100)
    for name in ("run.sqlite-wal", "run.sqlite-shm"):
        (run / name).unlink(missing_ok=True)
    assert_clean(
        invoke("run", "--resume", "--out", str(run), "--quiet"),
        2,
        str(run / "run.sqlite"),
        "cannot open the run database",
    )


# -- item 11: train --model, ascii console ----------------------------------------------------------------
def test_train_model_path_that_does_not_exist(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "ok", "label": "none"}\n')
    res = invoke(
        "train", "--gold", str(gold), "--task", "binary", "--model", "/nonexistent/model", "--out", str(tmp_path / "m")
    )
    assert_clean(res, 2, "--model", "/nonexistent/model")
    assert not (tmp_path / "m").exists()


def test_ascii_console_does_not_crash_the_summary(tmp_path):
    cfg = core_config(tmp_path / "c.toml", patients=1)
    res = dualalign(
        "run",
        str(cfg),
        "--out",
        str(tmp_path / "run"),
        "--quiet",
        env=cli_env(PYTHONIOENCODING="ascii", DUALALIGN_PLUGINS="core"),
    )
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "\\u2014" in res.stdout or "?" in res.stdout


# -- item 8: plugins isolated at import, construction and run time ----------------------------------------
@pytest.mark.parametrize(
    ("mode", "error"), [("import-exit", "SystemExit: 3"), ("import-interrupt", "KeyboardInterrupt")]
)
def test_plugin_that_exits_at_import_is_listed_broken(faulty_site, mode, error):
    res = faulty(faulty_site, mode, "plugins", "--json")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    plugins = {p["name"]: p for p in json.loads(res.stdout)}
    assert plugins["faulty"]["status"] == "broken" and error in plugins["faulty"]["error"]
    assert plugins["core"]["status"] == "ok"


def test_component_whose_constructor_raises(faulty_site, tmp_path):
    cfg = faulty_config(tmp_path / "c.toml", filters='use = ["bad-init"]')  # third-party filters are opt-in
    res = faulty(faulty_site, "filter-init", "run", str(cfg), "--out", str(tmp_path / "run"), "--quiet")
    assert_clean(res, 2, "filter 'bad-init'", "dualalign-faulty", "cannot start on purpose")


def test_generator_system_exit_is_the_units_failure(faulty_site, tmp_path):
    run = tmp_path / "run"
    res = faulty(faulty_site, "gen-exit", "run", str(faulty_config(tmp_path / "c.toml")), "--out", str(run), "--quiet")
    assert_clean(res, 1, "run failed", "generator 'faulty-gen'", "SystemExit: 4", "--resume")
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished_with_failures"
    with RunView(run) as view:
        errors = [e for _, e in view.failed_units()]
        assert len(errors) == len(view.unit_outcomes())  # every unit failed
    assert errors and all("faulty-gen" in e and "SystemExit: 4" in e for e in errors)
    res = faulty(faulty_site, "", "run", "--resume", "--out", str(run), "--quiet")  # fixed plugin: resumes
    assert_clean(res, 0)


def test_annotator_system_exit_in_annotate_names_the_plugin(faulty_site, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "Pt reports tremor."}\n')
    res = dualalign(
        "annotate",
        str(src),
        "--annotator",
        "faulty-ann",
        "--out",
        str(tmp_path / "o"),
        env={**faulty_env(faulty_site, ""), "DUALALIGN_PLUGINS": "faulty,alzheimers"},
    )
    assert_clean(res, 1, "annotator 'faulty-ann'", "dualalign-faulty", "SystemExit: 5")
    out = tmp_path / "o"  # annotate streams: the failed record is listed, no row of it is written
    assert not out.exists() or out.read_text() == ""


def test_raising_cohort_filter_fails_the_run_cleanly_and_resume_reports_again(faulty_site, tmp_path):
    run = tmp_path / "run"
    cfg = faulty_config(tmp_path / "c.toml", filters='use = ["bad-cohort"]')
    for args in (("run", str(cfg), "--out", str(run), "--quiet"), ("run", "--resume", "--out", str(run), "-q")):
        res = faulty(faulty_site, "cohort", *args)
        assert_clean(
            res, 1, "filter 'bad-cohort'", "dualalign-faulty", "check_cohort", "cohort check failed on purpose"
        )
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "bad-cohort" in manifest["stop_reason"]


# -- item 19: Ctrl-C ----------------------------------------------------------------------------------------
def test_ctrl_c_leaves_the_run_interrupted_and_resumable(faulty_site, tmp_path):
    run = tmp_path / "run"
    cfg = faulty_config(tmp_path / "c.toml")
    cfg.write_text(cfg.read_text().replace("patients = 2", "patients = 6"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run), "--quiet"],
        env=faulty_env(faulty_site, "gen-slow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (run / "manifest.json").exists() and json.loads((run / "manifest.json").read_text())["status"] == "running":
            break
        time.sleep(0.05)
    time.sleep(0.4)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if "interrupted" in ln]
    assert len(lines) == 1 and f"--resume --out {run}" in lines[0], stderr
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    res = faulty(faulty_site, "", "run", "--resume", "--out", str(run), "--quiet")
    assert_clean(res, 0)
    assert json.loads((run / "manifest.json").read_text())["status"] == "finished"

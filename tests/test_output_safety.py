"""Output safety through the CLI: never delete or overwrite what isn't ours, any run size exports, readers of
a read-only or corrupt run exit 2 naming the file, injected strings stay inert (issue 14: items 1, 4-6, 10, 11,
19)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from dualalign_core.atomic import MARKER, TMP_SUFFIX
from dualalign_core.cli import app
from dualalign_core.exports.jsonl import CARD, export_run
from dualalign_core.records import Rejection
from dualalign_core.run.store import RunStore
from support import ROOT, cli_env

CONFIG = """
[run]
seed = 3
patients = {patients}
max_notes_per_patient = 2
[disease]
name = "alzheimers"
[generator]
name = "template"
[annotator]
name = "lexicon"
[filters]
use = ["identifiers", "length_form"]
"""
AD_PACK = ROOT / "plugins" / "dualalign-alzheimers" / "dualalign_alzheimers" / "data"


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def flat(result) -> str:
    """The CLI's output with rich's line wrapping undone (paths can be cut mid-word)."""
    return result.output.replace("\n", "")


def refused(result, *names: str) -> str:
    """Exit 2, one error line naming each of ``names``, no traceback."""
    text = flat(result)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in text
    for name in names:
        assert str(name) in text, (name, text)
    return text


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories); SQLite's WAL index files, which any
    reader of a WAL database may create, are left out."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
        if not p.name.endswith(("-wal", "-shm"))
    }


def hidden_temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX)]


def make_run(root: Path, patients: int, *, plan_only: bool = False) -> Path:
    cfg = root / f"p{patients}.toml"
    cfg.write_text(CONFIG.format(patients=patients))
    run_dir = root / ("plan" if plan_only else f"run{patients}")
    result = cli("plan" if plan_only else "run", cfg, "--out", run_dir, *([] if plan_only else ["--quiet"]))
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {"one": make_run(root, 1), "two": make_run(root, 2), "plan": make_run(root, 2, plan_only=True)}
    killed = root / "killed"  # killed before its plans: the store exists, nothing in it, no manifest
    from dualalign_core.run.store import RunStore

    RunStore(killed).close()
    out["killed"] = killed
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- item 1: never delete or overwrite what isn't ours --------------------------------------------------------
@pytest.mark.parametrize("case", ["run", "parent-of-run", "cwd", "foreign", "file", "under-file"])
def test_export_refuses_targets_that_are_not_ours(runs, tmp_path, monkeypatch, case):
    home = tmp_path / "home"
    run_dir = copy_run(runs["one"], home / "run")
    (home / "mine").mkdir()
    (home / "mine" / "thesis.txt").write_text("years of work")
    (home / "notes.txt").write_text("a file")
    monkeypatch.chdir(home / "mine")
    target = {
        "run": run_dir,
        "parent-of-run": home,
        "cwd": Path("."),
        "foreign": home / "mine",
        "file": home / "notes.txt",
        "under-file": home / "notes.txt" / "x",
    }[case]
    before = tree(home)
    refused(cli("export", run_dir, "--out", target), str(target), "--out")
    assert tree(home) == before and not hidden_temps(home) and not hidden_temps(home / "mine")


def test_export_replaces_only_an_earlier_export_of_its_kind(runs, tmp_path):
    run_dir, out = runs["one"], tmp_path / "out"
    out.mkdir()  # an empty directory holds nothing to lose
    assert cli("export", run_dir, "--out", out).exit_code == 0
    first = tree(out)
    assert json.loads((out / MARKER).read_text())["kind"] == "export-jsonl"
    assert cli("export", run_dir, "--out", out).exit_code == 0 and tree(out) == first  # byte-identical
    refused(cli("export", run_dir, "--format", "parquet", "--out", out), str(out), "export-jsonl")
    (out / "my-notes.txt").write_text("added by the user")
    refused(cli("export", run_dir, "--out", out), str(out), "my-notes.txt")
    assert (out / "my-notes.txt").exists() and not hidden_temps(tmp_path)


def test_interrupted_export_keeps_the_old_one_and_leaves_no_temp(runs, tmp_path, monkeypatch):
    run_dir, out = runs["one"], tmp_path / "out"
    export_run(run_dir, "jsonl", out)
    before = tree(out)

    def interrupt(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("dualalign_core.exports.jsonl._write_jsonl", interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_run(run_dir, "jsonl", out)
    assert tree(out) == before and not hidden_temps(tmp_path)


def test_a_killed_exports_temp_dir_is_cleaned_by_the_next(runs, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.abc123{TMP_SUFFIX}"  # what SIGKILL leaves: our marker, its process gone
    stale.mkdir()
    (stale / "notes.jsonl").write_text("half")
    (stale / MARKER).write_text(
        json.dumps({"kind": "export-jsonl", "pid": int(dead.stdout), "host": os.uname().nodename})
    )
    theirs = tmp_path / f".out.zzz{TMP_SUFFIX}"  # same pattern, no marker: not ours, kept
    theirs.mkdir()
    assert cli("export", runs["one"], "--out", tmp_path / "out").exit_code == 0
    assert not stale.exists() and theirs.exists()


def test_report_overwrites_only_an_earlier_report(runs, tmp_path):
    run_dir = copy_run(runs["one"], tmp_path / "run")
    mine = tmp_path / "thesis.html"
    mine.write_text("<html>my thesis</html>")
    refused(cli("report", run_dir, "--no-embeddings", "--out", mine), str(mine), "not a DualAlign report")
    refused(cli("report", run_dir, "--no-embeddings", "--out", run_dir / "run.sqlite"), "run.sqlite")
    refused(cli("report", run_dir, "--no-embeddings", "--out", tmp_path), str(tmp_path), "directory")
    html, metrics = tmp_path / "r.html", tmp_path / "m.json"
    refused(cli("report", run_dir, "--no-embeddings", "--out", html, "--json", mine), str(mine), "--json")
    assert not html.exists() and mine.read_text() == "<html>my thesis</html>"  # checked before any work
    for _ in range(2):  # an earlier report and its JSON are replaced
        assert cli("report", run_dir, "--no-embeddings", "--out", html, "--json", metrics).exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_train_out_is_checked_before_any_work(runs, tmp_path):
    run_dir = runs["one"]
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    before = tree(tmp_path)
    for target in (tmp_path / "a-file", tmp_path / "a-file" / "m", tmp_path / "mine", run_dir):
        refused(
            cli("train", run_dir, "--task", "binary", "--model", "org/never-loaded", "--out", target),
            str(target),
            "--out",
        )
    assert tree(tmp_path) == before


def test_unwritable_out_is_bad_input(runs, tmp_path, monkeypatch):
    """``--out`` in a directory we may not write: export, report, train exit 2 naming the path."""
    import dualalign_core.atomic as atomic

    monkeypatch.setattr(atomic, "_writable", lambda path: False)  # root ignores permission bits
    locked = tmp_path / "locked"
    run_dir = runs["one"]
    refused(cli("export", run_dir, "--out", locked / "e"), str(locked / "e"), "not writable")
    refused(cli("report", run_dir, "--no-embeddings", "--out", locked / "r.html"), "r.html", "not writable")
    refused(cli("train", run_dir, "--task", "binary", "--model", "x", "--out", locked / "m"), "not writable")


# -- item 4: FHIR file names from data ------------------------------------------------------------------------
def test_fhir_filenames_from_persona_ids_stay_inside(runs, tmp_path):
    run_dir = copy_run(runs["one"], tmp_path / "a" / "b" / "run")
    evil = "../../../evil"
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (old,) = db.execute("SELECT id FROM personas").fetchone()
        db.execute("UPDATE personas SET id=?, data=json_set(data, '$.id', ?)", (evil, evil))
        for table in ("plans", "notes"):
            db.execute(
                f"UPDATE {table} SET persona_id=?, data=json_set(data, '$.persona_id', ?) WHERE persona_id=?",
                (evil, evil, old),
            )
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "a" / "b" / "out"
    assert cli("export", run_dir, "--format", "fhir", "--out", out).exit_code == 0
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(out in p.parents or p == out for p in new)
    (bundle,) = (out / "fhir").iterdir()
    assert (
        bundle.name.startswith("evil-")
        and json.loads(bundle.read_text())["entry"][0]["resource"]["identifier"][0]["value"] == evil
    )


# -- item 5: the card escapes pack and manifest strings -------------------------------------------------------
def test_dataset_card_escapes_html_and_links(runs, tmp_path):
    run_dir = copy_run(runs["one"], tmp_path / "run")
    pack = shutil.copytree(AD_PACK, tmp_path / "pack")
    meta = json.loads((pack / "disease.json").read_text())
    meta["title"] = "AD <script>alert(1)</script>"
    (pack / "disease.json").write_text(json.dumps(meta))
    demo = json.loads((pack / meta["files"]["demographics"]).read_text())
    key = next(iter(demo["sources"]))
    demo["sources"][key].update(
        url="javascript:alert(1)", title="[click](javascript:alert(2))", author="<img src=x onerror=alert(3)>"
    )
    (pack / meta["files"]["demographics"]).write_text(json.dumps(demo))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["config"]["disease"] = {"path": str(pack)}
    manifest["components"]["generator"]["model"] = "gpt|<img src=x onerror=alert(4)>\n# injected"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert cli("export", run_dir, "--out", tmp_path / "e").exit_code == 0
    card = (tmp_path / "e" / CARD).read_text()
    assert "&lt;script&gt;" in card and "&lt;img" in card  # shown, not rendered
    for raw in ("<script", "<img", "<javascript:", "[click](javascript:", "\n# injected"):
        assert raw not in card
    assert "<https://" in card  # plain http(s) sources stay links


# -- item 6: HF export of any run size -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["one", "two", "plan", "killed", "none-accepted", "negative-among-labels"])
def test_hf_export_of_any_run_size_loads(runs, tmp_path, kind):
    datasets = pytest.importorskip("datasets")
    src = runs.get(kind, runs["two"])
    run_dir = copy_run(src, tmp_path / "run")
    if kind == "none-accepted":
        with RunStore(run_dir) as store:  # every note rejected by a filter "x"
            units = [store.stored_unit(n.id) for n in store.iter_records("notes")]
            store.commit_units(
                [
                    attrs.evolve(
                        u,
                        rejections=[
                            *u.rejections,
                            (
                                "generated",
                                Rejection(
                                    record_id=u.plan_id,
                                    record_kind="note",
                                    filter="x",
                                    reason="test",
                                    attempt=u.attempt,
                                ),
                            ),
                        ],
                    )
                    for u in units
                    if u is not None
                ]
            )
    if kind == "negative-among-labels":
        pack = shutil.copytree(AD_PACK, tmp_path / "pack")
        meta = json.loads((pack / "disease.json").read_text())
        meta["labels"] = [*meta["labels"], meta.get("negative_label", "none")]
        (pack / "disease.json").write_text(json.dumps(meta))
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest["config"]["disease"] = {"path": str(pack)}
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "hf"
    result = cli("export", run_dir, "--format", "hf", "--out", out)
    assert result.exit_code == 0, result.output
    for sub in (out, out / "notes", out / "patients"):
        dd = datasets.load_from_disk(str(sub))
        assert set(dd) == {"train", "validation", "test"}
        assert len({json.dumps(dd[s].features.to_dict(), sort_keys=True) for s in dd}) == 1
    labels = datasets.load_from_disk(str(out))["test"].features["label"].names
    assert len(labels) == len(set(labels)) and labels[-1] == "none"


# -- item 10: read-only and corrupt runs ----------------------------------------------------------------------
READ_ONLY_SCRIPT = """
import sys
from typer.testing import CliRunner
from dualalign_core.cli import app
run, out = sys.argv[1:]
for args in (["export", run, "--out", out + "/e"], ["report", run, "--no-embeddings", "--out", out + "/r.html"],
             ["report", run, "--no-embeddings"]):
    r = CliRunner().invoke(app, args)
    print(r.exit_code, r.output.replace("\\n", ""), flush=True)
"""


def _read_only(run_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Export and report the run with its directory read-only (one process): a read-only bind mount where we
    may mount (root in a container), else permission bits (a normal user)."""
    cmd = [sys.executable, "-c", READ_ONLY_SCRIPT, str(run_dir), str(out)]
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("needs unshare to make a read-only mount as root")
        mount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && ! touch "$1/x" 2>/dev/null && "${@:2}"'
        done = subprocess.run(
            ["unshare", "-m", "bash", "-c", mount, "-", str(run_dir), *cmd],
            capture_output=True,
            text=True,
            env=cli_env(),
        )
        if done.returncode and not done.stdout:
            pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()[:200]}")
        return done
    os.chmod(run_dir, 0o555)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=cli_env())
    finally:
        os.chmod(run_dir, 0o755)


def test_read_only_run_directory_exports_and_reports(runs, tmp_path):
    run_dir = copy_run(runs["two"], tmp_path / "run")
    for name in ("run.sqlite-wal", "run.sqlite-shm"):  # a cleanly closed run: nothing beside the database
        (run_dir / name).unlink(missing_ok=True)
    before = tree(run_dir)
    out = tmp_path / "out"
    done = _read_only(run_dir, out)
    codes = [line.split(" ", 1) for line in done.stdout.splitlines()]
    assert [c for c, _ in codes] == ["0", "0", "2"], done.stdout + done.stderr
    assert "report.html" in codes[2][1] and "not writable" in codes[2][1] and "Traceback" not in done.stderr
    assert (out / "e" / "notes.jsonl").exists() and (out / "r.html").exists()
    assert tree(run_dir) == before and not (run_dir / "run.sqlite-shm").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "manifest", "manifest-list"])
def test_corrupt_run_files_are_bad_input(runs, tmp_path, damage):
    run_dir = copy_run(runs["one"], tmp_path / "run")
    db, manifest = run_dir / "run.sqlite", run_dir / "manifest.json"
    for name in ("run.sqlite-wal", "run.sqlite-shm"):
        (run_dir / name).unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(b"not a database at all, " * 100)
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[: len(db.read_bytes()) // 3])
    elif damage == "empty":
        db.write_bytes(b"")
    else:
        manifest.write_text("{oops" if damage == "manifest" else "[1, 2]")
    named = manifest if damage.startswith("manifest") else db
    refused(cli("export", run_dir, "--out", tmp_path / "e"), str(named))
    refused(cli("report", run_dir, "--no-embeddings", "--out", tmp_path / "r.html"), str(named))
    assert not (tmp_path / "e").exists() and not (tmp_path / "r.html").exists()


# -- item 11: killed before plans; FHIR anchor dates ----------------------------------------------------------
def test_report_on_a_run_killed_before_its_plans(runs, tmp_path):
    killed = copy_run(runs["killed"], tmp_path / "run")
    refused(cli("report", killed, "--no-embeddings"), str(killed), "no plans yet", "--resume")
    assert cli("export", killed, "--out", tmp_path / "e").exit_code == 0  # an empty export, not a crash
    assert cli("report", runs["plan"], "--no-embeddings", "--out", tmp_path / "plan.html").exit_code == 0


@pytest.mark.parametrize("anchor", ["0001-01-01", "0050-06-01"])
def test_fhir_anchor_date_too_early_is_bad_input(runs, tmp_path, anchor):
    out = tmp_path / "fhir"
    refused(
        cli("export", runs["one"], "--format", "fhir", "--out", out, "--anchor-date", anchor), "--anchor-date", anchor
    )
    assert not out.exists() and not hidden_temps(tmp_path)


# -- item 19: the valid formats --------------------------------------------------------------------------------
def test_unknown_format_lists_every_format(runs, tmp_path):
    text = refused(cli("export", runs["one"], "--format", "xml", "--out", tmp_path / "x"), "--format", "'xml'")
    for fmt in ("jsonl", "parquet", "hf", "fhir", "review"):
        assert fmt in text
    assert not (tmp_path / "x").exists()


def test_review_export_out_that_is_a_directory(runs, tmp_path):
    refused(cli("export", runs["one"], "--format", "review", "--out", tmp_path), str(tmp_path), "directory")

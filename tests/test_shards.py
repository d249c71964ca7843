"""Shards without Ray: `run --shard K/N` on each of N jobs, then `merge`, equals one unsharded run byte for byte,
cohort filters and their refill included; merges of the wrong shards are refused naming what is wrong."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from dualalign_core.run.shard import ShardSpec
from support import dualalign, toy_config

# a near-duplicate threshold this low rejects many notes: the cohort phase has refills to make
FILTERS = (
    'use = ["short-note", "near_duplicate"]\n'
    "options = {short-note = {min_chars = 60}, near_duplicate = {threshold = 0.5}}"
)


def _config(path: Path, seed: int = 3) -> Path:
    return toy_config(path, run=f"seed = {seed}\npatients = 5\nmax_attempts = 3", filters=FILTERS)


def _quiet(args: tuple[str, ...]) -> tuple[str, ...]:
    return (*args, "--quiet") if args[0] in ("run", "merge") else args


def _ok(*args: str, site: Path) -> None:
    result = dualalign(*_quiet(args), site=site)
    assert result.returncode == 0, result.stderr


def _refused(*args: str, site: Path) -> str:
    """A command that exits 2 with one line on stderr and no traceback; returns that line."""
    result = dualalign(*_quiet(args), site=site)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _export(run: Path, out: Path, site: Path) -> dict[str, bytes]:
    _ok("export", str(run), "--format", "jsonl", "--out", str(out), site=site)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _shards(cfg: Path, root: Path, count: int, site: Path) -> list[Path]:
    dirs = []
    for k in range(1, count + 1):
        _ok("run", str(cfg), "--shard", f"{k}/{count}", "--out", str(root / str(k)), site=site)
        dirs.append(root / str(k))
    return dirs


@pytest.fixture(scope="module")
def made(plugin_site, tmp_path_factory) -> dict:
    """A config, its unsharded run's export, and two complete shards of it."""
    root = tmp_path_factory.mktemp("shards")
    cfg = _config(root / "toy.toml")
    _ok("run", str(cfg), "--out", str(root / "reference"), site=plugin_site)
    return {
        "root": root,
        "cfg": cfg,
        "reference": _export(root / "reference", root / "export-reference", plugin_site),
        "shards": _shards(cfg, root / "two", 2, plugin_site),
    }


def test_shard_spec_parses_and_splits_whole_patients_into_blocks():
    assert ShardSpec.parse("2/3") == ShardSpec(2, 3)
    assert ShardSpec.parse("2/3").as_dict() == {"index": 2, "count": 3}

    class P:
        def __init__(self, i: int):
            self.id = f"p{i}"

    people = [P(i) for i in range(5)]
    blocks = [ShardSpec(k, 3).persona_ids(people) for k in (1, 2, 3)]  # type: ignore[arg-type]
    assert [sorted(b) for b in blocks] == [["p0"], ["p1", "p2"], ["p3", "p4"]]
    with pytest.raises(ValueError):
        ShardSpec(3, 2)


def test_two_shards_merged_equal_the_unsharded_run(made, plugin_site, tmp_path):
    one, two = made["shards"]
    for k, shard in enumerate((one, two), 1):
        m = _manifest(shard)
        assert m["shard"] == {"index": k, "count": 2} and m["status"] == "finished"
    with sqlite3.connect(one / "run.sqlite") as db:  # a shard runs no cohort filter
        assert db.execute("SELECT COUNT(*) FROM rejections WHERE stage='cohort'").fetchone() == (0,)
    merged = tmp_path / "merged"
    _ok("merge", str(one), str(two), "--out", str(merged), site=plugin_site)
    m = _manifest(merged)
    assert m["status"] == "finished" and "shard" not in m and m["run_id"] == _manifest(one)["run_id"]
    assert [s["shard"] for s in m["merged_from"]] == ["1/2", "2/2"]
    with sqlite3.connect(merged / "run.sqlite") as db:  # the merge ran the cohort filter and refilled
        assert db.execute("SELECT COUNT(*) FROM rejections WHERE stage='cohort'").fetchone()[0] > 0
        assert db.execute("SELECT MAX(attempt) FROM units").fetchone()[0] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged.")]  # no temp sibling left
    assert _export(merged, tmp_path / "export", plugin_site) == made["reference"]


def test_three_shards_merged_in_any_order_equal_the_unsharded_run(made, plugin_site, tmp_path):
    a, b, c = _shards(made["cfg"], tmp_path / "three", 3, plugin_site)
    for order, name in (((c, a, b), "m1"), ((b, c, a), "m2")):
        _ok("merge", *map(str, order), "--out", str(tmp_path / name), site=plugin_site)
        assert _export(tmp_path / name, tmp_path / f"export-{name}", plugin_site) == made["reference"]


@pytest.mark.parametrize("spec", ["0/2", "3/2", "a/b", "1/0", "1", "\u0661/\u0662", ""])
def test_a_bad_shard_spec_is_refused_naming_the_option(made, plugin_site, tmp_path, spec):
    line = _refused("run", str(made["cfg"]), "--shard", spec, "--out", str(tmp_path / "run"), site=plugin_site)
    assert "--shard" in line and repr(spec) in line
    assert not (tmp_path / "run").exists()


def test_a_shard_with_no_patient_is_refused(made, plugin_site, tmp_path):
    line = _refused("run", str(made["cfg"]), "--shard", "6/6", "--out", str(tmp_path / "run"), site=plugin_site)
    assert "--shard" in line and "6/6 of 5 patient(s) would be empty" in line
    assert not (tmp_path / "run").exists()


def test_merge_refuses_a_missing_foreign_or_duplicate_shard_and_a_full_out(made, plugin_site, tmp_path):
    one, two = made["shards"]
    out = str(tmp_path / "merged")
    assert "2/2 missing" in _refused("merge", str(one), "--out", out, site=plugin_site)

    foreign = _config(tmp_path / "other.toml", seed=4)
    _ok("run", str(foreign), "--shard", "2/2", "--out", str(tmp_path / "foreign"), site=plugin_site)
    line = _refused("merge", str(one), str(two), str(tmp_path / "foreign"), "--out", out, site=plugin_site)
    assert str(tmp_path / "foreign") in line and "another run" in line and "run.seed" in line

    copy = tmp_path / "copy"
    shutil.copytree(one, copy)
    line = _refused("merge", str(one), str(two), str(copy), "--out", out, site=plugin_site)
    assert "1/2 given twice" in line and str(one) in line and str(copy) in line

    failed = tmp_path / "failed"  # a failed unit is unfinished work: resume retries it
    shutil.copytree(two, failed)
    with sqlite3.connect(failed / "run.sqlite") as db:
        db.execute("UPDATE units SET status='failed', error='boom' WHERE id=(SELECT MIN(id) FROM units)")
    line = _refused("merge", str(one), str(failed), "--out", out, site=plugin_site)
    assert str(failed) in line and "incomplete: 1 of" in line and "--resume --shard 2/2" in line

    tampered = tmp_path / "tampered"  # a status no run writes: bad input naming the shard and field
    shutil.copytree(two, tampered)
    with sqlite3.connect(tampered / "run.sqlite") as db:
        db.execute("UPDATE units SET status='weird' WHERE id=(SELECT MIN(id) FROM units)")
    line = _refused("merge", str(one), str(tampered), "--out", out, site=plugin_site)
    assert str(tampered) in line and "units.status" in line and "'weird'" in line

    line = _refused("merge", str(one), str(tmp_path / "nothing"), "--out", out, site=plugin_site)
    assert str(tmp_path / "nothing") in line

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    line = _refused("merge", str(one), str(two), "--out", str(full), site=plugin_site)
    assert "--out" in line and "not empty" in line
    assert (full / "keep.txt").read_text() == "mine" and not (tmp_path / "merged").exists()


def test_a_stopped_shard_is_refused_then_resumed_with_its_spec_and_merged(made, plugin_site, tmp_path):
    one, _ = made["shards"]
    cfg, two = str(made["cfg"]), tmp_path / "two"
    stopped = dualalign(
        "run", cfg, "--shard", "2/2", "--out", str(two), "--max-cost", "0.004", "--quiet", site=plugin_site
    )
    assert stopped.returncode == 1, stopped.stderr  # the budget stopped it: resumable
    assert _manifest(two)["status"] == "stopped" and _manifest(two)["shard"] == {"index": 2, "count": 2}

    line = _refused("merge", str(one), str(two), "--out", str(tmp_path / "merged"), site=plugin_site)
    assert str(two) in line and "incomplete" in line and "units unfinished" in line
    assert not (tmp_path / "merged").exists()

    line = _refused("run", cfg, "--resume", "--shard", "1/2", "--out", str(two), site=plugin_site)
    assert "--shard" in line and "2/2" in line  # another shard spec than the directory's
    line = _refused(
        "run", cfg, "--resume", "--shard", "1/2", "--out", str(one.parent.parent / "reference"), site=plugin_site
    )
    assert "--shard" in line and "unsharded" in line

    _ok("run", cfg, "--resume", "--shard", "2/2", "--out", str(two), "--max-cost", "10", site=plugin_site)
    assert _manifest(two)["status"] == "finished"
    _ok("merge", str(two), str(one), "--out", str(tmp_path / "merged"), site=plugin_site)
    assert _export(tmp_path / "merged", tmp_path / "export", plugin_site) == made["reference"]


def test_a_merge_its_budget_stops_is_kept_and_resumes_like_any_run(made, plugin_site, tmp_path):
    one, two = made["shards"]
    merged = tmp_path / "merged"
    stopped = dualalign(
        "merge", str(one), str(two), "--out", str(merged), "--max-cost", "0", "--quiet", site=plugin_site
    )
    assert stopped.returncode == 1 and "--max-cost" in stopped.stderr, stopped.stderr
    assert _manifest(merged)["status"] == "stopped"  # the cohort refill waits for a raised budget
    _ok("run", "--resume", "--out", str(merged), "--max-cost", "10", site=plugin_site)
    assert _manifest(merged)["status"] == "finished"
    assert _export(merged, tmp_path / "export", plugin_site) == made["reference"]


def test_resume_without_shard_continues_the_directory_s_shard(made, plugin_site, tmp_path):
    shard = tmp_path / "one"
    args = ("run", str(made["cfg"]), "--shard", "1/2", "--out", str(shard), "--max-cost", "0.002", "--quiet")
    assert dualalign(*args, site=plugin_site).returncode == 1
    _ok("run", "--resume", "--out", str(shard), "--max-cost", "10", site=plugin_site)  # no CONFIG, no --shard
    m = _manifest(shard)
    assert m["shard"] == {"index": 1, "count": 2} and m["status"] == "finished"
    assert m["counts"]["units"] == _manifest(made["shards"][0])["counts"]["units"]  # shard 1's notes only


def test_shards_made_for_a_dead_ray_cluster_merge_locally(plugin_site, tmp_path):
    """The executor is how notes are made, not what they are: shards whose config names a Ray cluster that is
    gone merge here (merge's default) and equal the unsharded run; ``merge --executor ray`` with a dead
    address is exit 2 naming ray.address."""
    cfg = _config(tmp_path / "toy.toml")
    ray_cfg = tmp_path / "ray.toml"
    ray_cfg.write_text(
        cfg.read_text().replace("[run]\n", '[run]\nexecutor = "ray"\n', 1) + '[ray]\naddress = "127.0.0.1:1"\n'
    )
    shards = []
    for k in (1, 2):  # each shard is made locally (--executor local), its config still naming the dead cluster
        _ok(
            "run",
            str(ray_cfg),
            "--shard",
            f"{k}/2",
            "--executor",
            "local",
            "--out",
            str(tmp_path / str(k)),
            site=plugin_site,
        )
        shards.append(str(tmp_path / str(k)))
    _ok("merge", *shards, "--out", str(tmp_path / "merged"), site=plugin_site)
    assert _manifest(tmp_path / "merged")["executor"]["name"] == "local"
    _ok("run", str(cfg), "--out", str(tmp_path / "reference"), site=plugin_site)
    merged = _export(tmp_path / "merged", tmp_path / "e1", plugin_site)
    assert merged == _export(tmp_path / "reference", tmp_path / "e2", plugin_site)
    line = _refused("merge", *shards, "--out", str(tmp_path / "m2"), "--executor", "ray", site=plugin_site)
    assert "ray.address" in line and "nothing answers" in line

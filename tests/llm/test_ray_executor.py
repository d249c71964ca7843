"""The Ray executor through the real CLI, on a local Ray runtime limited to this machine's 2 cores.

A Ray run exports byte-identical files to a local run (template generator; openai backend against the
loopback server); a worker SIGKILLed mid-run loses and duplicates nothing; a driver SIGKILLed mid-run and
resumed (on Ray or locally) exports what an uninterrupted run does; the concurrency knob is the run's total,
split across the workers. Drivers started as child processes join the test session's Ray runtime.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET

from dualalign_core.plugins import get_registry
from dualalign_core.run.view import RunView
from dualalign_core.run.worker import KILL_WORKER_ENV, share

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, committed_units, dualalign  # noqa: E402

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")
TEMPLATE = Path(__file__).parents[2] / "examples" / "alzheimers-template.toml"


@pytest.fixture(scope="module")
def ray_info():
    """One local Ray runtime for the module (2 CPUs): its addresses and its session directory."""
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield context.address_info
    ray.shutdown()


@pytest.fixture(scope="module")
def cluster(ray_info):
    """The module's Ray runtime: in-process CLI runs use it, child drivers join it at this address."""
    return ray_info["gcs_address"]


@pytest.fixture(scope="module")
def server():
    srv = FakeLLMServer(latency=0.05).start()
    yield srv
    srv.stop()


def llm_config(
    path: Path,
    url: str,
    *,
    concurrency: int = 4,
    executor: str = "local",
    workers: int = 2,
    annotator: str = "",
    forward: str = '["OPENAI_API_KEY"]',
) -> Path:
    backend = (
        f'name = "openai"\nmodel = "{MODELS["openai"]}"\nconcurrency = {concurrency}\n'
        f'options = {{ base_url = "{url}/v1", timeout = 5, backoff_initial = 0.01, max_attempts = 4 }}\n'
    )
    labeller = f'name = "{annotator}"\n' if annotator else backend
    path.write_text(
        f'[run]\nseed = 5\npatients = 3\nmax_notes_per_patient = 4\nexecutor = "{executor}"\n'
        f"[ray]\nworkers = {workers}\nnum_cpus = 0.5\nforward_env = {forward}\n"
        '[disease]\nname = "alzheimers"\n'
        f"[generator]\n{backend}[annotator]\n{labeller}"
        '[filters]\nuse = ["identifiers", "near_duplicate"]\n'
    )
    return path


def env(**extra: str) -> dict[str, str]:
    return cli_env(OPENAI_API_KEY=SECRET["openai"], **extra)


def export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}


def run_ok(*args: str, **kw) -> subprocess.CompletedProcess:
    result = dualalign("run", *args, "--quiet", **kw)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_share_splits_a_total_across_workers():
    assert [share(64, i, 4) for i in range(4)] == [16, 16, 16, 16]
    assert [share(5, i, 2) for i in range(2)] == [3, 2]
    assert [share(1, i, 3) for i in range(3)] == [1, 1, 1]  # every replica can make a note


def test_template_run_on_ray_exports_what_a_local_run_does(cluster, tmp_path):
    run_ok(str(TEMPLATE), "--patients", "4", "--out", str(tmp_path / "local"))
    run_ok(str(TEMPLATE), "--patients", "4", "--out", str(tmp_path / "ray"), "--executor", "ray")
    local, on_ray = export(tmp_path / "local", tmp_path / "e-local"), export(tmp_path / "ray", tmp_path / "e-ray")
    assert local == on_ray and local["notes.jsonl"]
    m_local, m_ray = manifest(tmp_path / "local"), manifest(tmp_path / "ray")
    assert m_ray["run_id"] == m_local["run_id"]  # the executor is not part of what the run makes
    assert m_ray["status"] == "finished" and m_ray["config"]["run"]["executor"] == "ray"
    assert m_ray["counts"] == m_local["counts"]


def test_llm_run_on_ray_exports_what_a_local_run_does_within_its_concurrency(cluster, server, tmp_path):
    local = llm_config(tmp_path / "local.toml", server.url, annotator="lexicon")
    run_ok(str(local), "--out", str(tmp_path / "local"), env=env())
    server.max_in_flight = 0
    on_ray = llm_config(tmp_path / "ray.toml", server.url, executor="ray", workers=3, annotator="lexicon")
    run_ok(str(on_ray), "--out", str(tmp_path / "ray"), env=env())
    assert server.max_in_flight <= 4  # the run-wide concurrency (4), split 2/1/1 across three replicas
    assert manifest(tmp_path / "ray")["executor"] == {
        "name": "ray",
        "address": "local runtime",  # this process's runtime (no [ray] address)
        "workers": 3,
        "num_cpus": 0.5,
        "num_gpus": 0.0,
        "max_in_flight": 8,
    }
    assert manifest(tmp_path / "local")["executor"] == {"name": "local", "max_in_flight": 8}
    assert export(tmp_path / "local", tmp_path / "e1") == export(tmp_path / "ray", tmp_path / "e2")
    llm = manifest(tmp_path / "ray")["llm"]  # the replicas' runtime stats, added up by the driver
    assert llm["generator"]["requests"] == manifest(tmp_path / "local")["llm"]["generator"]["requests"] > 0
    with RunView(tmp_path / "ray") as view:  # replies and spend came back with their units
        assert view.cache_size() > 0 and view.spend_ledger_usd() > 0


@pytest.mark.slow  # a lower bound on concurrency is timing: on a loaded machine replicas may not overlap
def test_ray_replicas_together_reach_the_run_wide_concurrency(cluster, tmp_path):
    with FakeLLMServer(latency=0.3) as slow:
        on_ray = llm_config(tmp_path / "ray.toml", slow.url, executor="ray", workers=3, annotator="lexicon")
        run_ok(str(on_ray), "--out", str(tmp_path / "ray"), env=env())
        assert 3 <= slow.max_in_flight <= 4


def test_forward_env_is_how_a_key_reaches_the_workers(cluster, server, tmp_path):
    """The module's Ray runtime started before the CLI set OPENAI_API_KEY: its workers send the key only
    because ``[ray] forward_env`` names it; without it they send the backend's placeholder for a keyless
    local server."""
    if "OPENAI_API_KEY" in os.environ:
        pytest.skip("OPENAI_API_KEY is set in this environment: the workers inherit it")
    server.auth.clear()
    cfg = llm_config(tmp_path / "keyed.toml", server.url, executor="ray", annotator="lexicon")
    run_ok(str(cfg), "--out", str(tmp_path / "keyed"), env=env())
    assert set(server.auth) == {f"Bearer {SECRET['openai']}"}  # the key went through, to every request
    bare = llm_config(tmp_path / "bare.toml", server.url, executor="ray", annotator="lexicon", forward="[]")
    server.auth.clear()
    run_ok(str(bare), "--out", str(tmp_path / "bare"), env=env())
    assert server.auth and f"Bearer {SECRET['openai']}" not in server.auth


def files_holding(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and data in p.read_bytes()]


def test_forwarded_keys_reach_the_workers_and_no_ray_log(ray_info, server, tmp_path):
    """A key named in ``[ray] forward_env`` reaches every request, and is written to no file: not under
    Ray's session directory (the runtime-env agent logs a runtime_env's variables), not in the run."""
    if "OPENAI_API_KEY" in os.environ:
        pytest.skip("OPENAI_API_KEY is set in this environment: the workers inherit it")
    token = f"sk-relkey-{secrets.token_hex(16)}"
    server.auth.clear()
    cfg = llm_config(tmp_path / "keyed.toml", server.url, executor="ray", annotator="lexicon")
    run_ok(str(cfg), "--out", str(tmp_path / "run"), env=cli_env(OPENAI_API_KEY=token))
    assert server.auth and set(server.auth) == {f"Bearer {token}"}  # the replicas got it
    assert files_holding(Path(ray_info["session_dir"]), token) == []
    assert files_holding(tmp_path, token) == []


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, server, tmp_path):
    cfg = llm_config(tmp_path / "ray.toml", server.url, executor="ray", workers=2)
    run_ok(str(cfg), "--out", str(tmp_path / "ref"), "--executor", "local", env=env())
    marker = tmp_path / "worker-killed"
    result = run_ok(
        str(cfg),
        "--out",
        str(tmp_path / "killed"),
        "--ray-address",
        cluster,
        env=env(**{KILL_WORKER_ENV: f"{marker}:3"}),  # the CLI runs as a child process (a fault hook is set)
    )
    assert marker.exists(), result.stderr  # a replica did die with units in flight
    assert manifest(tmp_path / "killed")["status"] == "finished"
    assert export(tmp_path / "ref", tmp_path / "e1") == export(tmp_path / "killed", tmp_path / "e2")


@pytest.mark.parametrize("resume_on", ["ray", "local"])
def test_driver_sigkill_then_resume_exports_what_an_uninterrupted_run_does(cluster, tmp_path, resume_on):
    with FakeLLMServer(latency=0.3) as slow:
        cfg = llm_config(tmp_path / "ray.toml", slow.url, concurrency=2, executor="ray", workers=2)
        run_ok(str(cfg), "--out", str(tmp_path / "ref"), "--executor", "local", env=env())
        run = tmp_path / "killed"
        args = ["-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run), "-q", "--ray-address", cluster]
        proc = subprocess.Popen([sys.executable, *args], env=env(), stderr=subprocess.PIPE, text=True)
        start, deadline = slow.completions, time.monotonic() + 120
        while slow.completions - start < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with RunView(run) as view:
            done = len(view.unit_outcomes())
        resumed = run_ok("--resume", "--out", str(run), "--executor", resume_on, env=env())
        assert manifest(run)["status"] == "finished", resumed.stderr
        assert manifest(run)["executor"]["name"] == resume_on  # the invocation's executor, not the killed run's
        assert export(tmp_path / "ref", tmp_path / "e1") == export(run, tmp_path / "e2")
    assert done < manifest(run)["counts"]["units"]["accepted"] + 1  # it was killed before the end


def test_sigterm_leaves_a_ray_run_interrupted_and_resumable(cluster, tmp_path):
    """What a batch scheduler sends at its time limit: the driver stops as on Ctrl-C (no Ray stack dump),
    the manifest says ``interrupted``, exit 143, the resume command printed; the resumed run finishes."""
    with FakeLLMServer(latency=0.3) as slow:
        cfg = llm_config(tmp_path / "ray.toml", slow.url, concurrency=2, executor="ray", workers=2)
        run = tmp_path / "run"
        args = ["-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run), "-q", "--ray-address", cluster]
        proc = subprocess.Popen([sys.executable, *args], env=env(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while committed_units(run) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        slow.latency = 600  # no reply from now on: the run is mid-way when the signal comes
        assert proc.poll() is None and committed_units(run) > 0, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 143, stderr
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        lines = [ln for ln in stderr.splitlines() if "interrupted" in ln]
        assert len(lines) == 1 and f"dualalign run --resume --out {run}" in lines[0], stderr
        m = manifest(run)
        assert m["status"] == "interrupted" and m["stop_reason"] == "interrupted by SIGTERM", m
        slow.latency = 0
        run_ok("--resume", "--out", str(run), "--ray-address", cluster, env=env())
    assert manifest(run)["status"] == "finished"


def test_bad_executor_is_exit_2_naming_the_option(tmp_path):
    result = dualalign("run", str(TEMPLATE), "--out", str(tmp_path / "r"), "--executor", "spark")
    assert result.returncode == 2 and "--executor" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_ray_missing_is_exit_2_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = dualalign("run", str(TEMPLATE), "--out", str(tmp_path / "r"), "--executor", "ray")
    assert result.returncode == 2 and "dualalign-core[ray]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("not a url", "is not valid here"),
        ("http://127.0.0.1:1", "is not valid here"),
        ("127.0.0.1:1", "nothing answers at 127.0.0.1:1"),
    ],
)
def test_a_bad_ray_address_is_exit_2_before_anything_is_written(tmp_path, address, says):
    """A malformed address, an HTTP URL or a dead one: one line naming ray.address, at once (no minutes of Ray's
    retries), and no half-made run directory left behind."""
    result = dualalign(
        "run", str(TEMPLATE), "--out", str(tmp_path / "r"), "--executor", "ray", "--ray-address", address
    )
    assert result.returncode == 2 and "ray.address" in result.stderr and says in result.stderr, result.stderr
    assert "internal error" not in result.stderr and not (tmp_path / "r").exists()

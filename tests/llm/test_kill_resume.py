"""SIGKILL a loopback-LLM run (openai backend, fake server, the real CLI) and resume: exports byte-identical to
an uninterrupted run, and the spend is exact.

Kill points:

* **exactly between a cache write and its unit's commit**: ``DUALALIGN_TEST_KILL_AFTER_CACHE_PUT=N`` (read only
  by ``RunContext.cache_put``) SIGKILLs the CLI right after the N-th reply reached the cache. With concurrency 1
  the resumed run must pay nothing twice (same spend; at most the one other request then in flight is resent);
* **at random moments** (seeded), up to twice per run, with the default concurrency.

The fast cases run by default; the sweeps are ``slow``.
"""

from __future__ import annotations

import json
import random
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

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

KILL_ENV = "DUALALIGN_TEST_KILL_AFTER_CACHE_PUT"


def write_config(path: Path, url: str, concurrency: int) -> Path:
    backend = (
        f'name = "openai"\nmodel = "{MODELS["openai"]}"\nconcurrency = {concurrency}\n'
        f'options = {{ base_url = "{url}/v1", timeout = 2, backoff_initial = 0.01, max_attempts = 4 }}\n'
    )
    path.write_text(
        '[run]\nseed = 4\npatients = 2\nmax_notes_per_patient = 3\n[disease]\nname = "alzheimers"\n'
        f"[generator]\n{backend}[annotator]\n{backend}"
        '[filters]\nuse = ["identifiers", "near_duplicate"]\n'
    )
    return path


def env(**extra: str) -> dict[str, str]:
    return cli_env(OPENAI_API_KEY=SECRET["openai"], **extra)


def run_cli(cfg: Path | None, out: Path, *, resume: bool = False, **extra: str) -> subprocess.CompletedProcess:
    args = ["run", *([str(cfg)] if cfg else []), "--out", str(out), "--quiet", *(["--resume"] if resume else [])]
    return dualalign(*args, env=env(**extra))


def export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}


def ledger(run: Path) -> tuple[float, float, dict[str, tuple[int, int, float]]]:
    """(sum of the units' costs, sum of the spend ledger, per-unit (in, out, cost))."""
    with RunView(run) as view:
        units = {
            pid: (u.input_tokens, u.output_tokens, round(u.cost_usd, 10))
            for pid, (_, u) in view.unit_outcomes().items()
        }
        spend = view.spend_ledger_usd()
    return round(sum(u[2] for u in units.values()), 10), round(spend, 10), units


@pytest.fixture(scope="module")
def server():
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    """Uninterrupted runs, one per concurrency, made on first use: export, ledger, requests, duration."""
    base = tmp_path_factory.mktemp("reference")

    class Refs(dict):
        def __missing__(self, concurrency: int) -> dict:
            cfg = write_config(base / f"c{concurrency}.toml", server.url, concurrency)
            run = base / f"run{concurrency}"
            before, t0 = server.completions, time.monotonic()
            result = run_cli(cfg, run)
            assert result.returncode == 0, result.stderr
            ref = self[concurrency] = {
                "cfg": cfg,
                "export": export(run, base / f"e{concurrency}"),
                "ledger": ledger(run),
                "requests": server.completions - before,
                "seconds": time.monotonic() - t0,
                "puts": _count(run, "llm_cache"),
            }
            assert ref["ledger"][0] > 0 and ref["ledger"][0] == ref["ledger"][1]
            return ref

    return Refs()


def _count(run: Path, table: str) -> int:
    with RunView(run) as view:
        return view.cache_size() if table == "llm_cache" else view.counts()[table]


def kill_between_cache_put_and_commit(reference, server, tmp_path: Path, n: int) -> None:
    ref = reference[1]
    run = tmp_path / f"killed-{n}"
    before = server.completions
    killed = run_cli(ref["cfg"], run, **{KILL_ENV: str(n)})
    assert killed.returncode == -signal.SIGKILL, (n, killed.returncode, killed.stderr)
    assert _count(run, "llm_cache") == n  # the reply is in the cache ...
    resumed = run_cli(None, run, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert export(run, tmp_path / f"export-{n}") == ref["export"]  # ... and recorded as if never killed
    units_cost, spend, per_unit = ledger(run)
    assert per_unit == ref["ledger"][2]
    assert units_cost == ref["ledger"][0]
    assert spend == ref["ledger"][1]  # nothing paid twice, nothing missing
    # the executor keeps two units in flight: a request in flight at the kill was never received (so never
    # recorded); it is sent again on resume
    assert ref["requests"] <= server.completions - before <= ref["requests"] + 1


def test_kill_between_cache_write_and_unit_commit(reference, server, tmp_path):
    """The issue's case: the first note's reply is cached, then SIGKILL before its unit commits."""
    kill_between_cache_put_and_commit(reference, server, tmp_path, 1)
    notes = [json.loads(line) for line in reference[1]["export"]["notes.jsonl"].splitlines()]
    assert not any(n["usage"]["cached"] for n in notes) and all(n["usage"]["cost_usd"] > 0 for n in notes)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~12 kill points x (killed run + resume + export), 3 CLI starts each
def test_kill_after_every_cache_write(reference, server, tmp_path):
    """Every cache write of the run is a kill point once (generation and annotation replies, refills)."""
    for n in range(2, reference[1]["puts"] + 1):
        kill_between_cache_put_and_commit(reference, server, tmp_path, n)


def random_kills(reference, server, tmp_path: Path, seed: int, kills: int = 2) -> dict[str, int]:
    ref = reference[8]
    rng = random.Random(seed)
    run = tmp_path / f"random-{seed}"
    before = server.completions
    outcome = {"kills": 0, "finished_before_kill": 0}
    for k in range(kills):
        args = [
            sys.executable,
            "-m",
            "dualalign_core.cli",
            "run",
            str(ref["cfg"]),
            "--out",
            str(run),
            "--quiet",
            *(["--resume"] if k else []),
        ]
        start = server.completions
        proc = subprocess.Popen(args, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rng.random() < 0.2:  # during start-up or planning
            time.sleep(rng.uniform(0.1, 1.5))
        else:  # after a random number of the server's replies, a few ms later (mid-unit, mid-commit)
            target, deadline = rng.randrange(1, max(2, ref["requests"] // 2)), time.monotonic() + 120
            while server.completions - start < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            outcome["kills"] += 1
        else:
            outcome["finished_before_kill"] += 1
        proc.wait()
    resumed = run_cli(ref["cfg"], run, resume=True)  # (a kill may come before the config is stored)
    assert resumed.returncode == 0, (seed, resumed.stderr)
    assert export(run, tmp_path / f"export-r{seed}") == ref["export"], seed
    units_cost, spend, per_unit = ledger(run)
    assert per_unit == ref["ledger"][2], seed
    assert units_cost == ref["ledger"][0], seed
    # money is spent again only on requests in flight at a kill (at most the concurrency per kill)
    assert spend >= ref["ledger"][1] - 1e-9, seed
    assert server.completions - before <= ref["requests"] + 8 * outcome["kills"], seed
    return outcome


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_random_kills_over_seeds(reference, server, tmp_path):
    outcomes = [random_kills(reference, server, tmp_path, seed) for seed in range(8)]
    assert sum(o["kills"] for o in outcomes) >= 8, outcomes
    print("random LLM kills:", outcomes)

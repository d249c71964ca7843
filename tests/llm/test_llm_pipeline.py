"""End to end at the Pipeline level: the AD pack, generator and annotator = a vendor backend on the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_helpers import MODELS, SECRET

from dualalign_core.config import parse_config
from dualalign_core.plugins import get_registry
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.run.view import RunView

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")


def config(vendor: str, url: str) -> dict:
    backend = {
        "name": vendor,
        "model": MODELS[vendor],
        "options": {
            "base_url": url + ("/v1" if vendor == "openai" else ""),
            "timeout": 0.5,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
            "max_attempts": 4,
        },
    }
    return {
        "run": {"seed": 3, "patients": 2, "max_notes_per_patient": 4},
        "disease": {"name": "alzheimers"},
        "generator": backend,
        "annotator": backend,
        "filters": {"use": []},
    }


def test_pipeline_run_faults_resume_and_no_secrets(vendor, tmp_path):
    from fakeserver import FakeLLMServer

    srv = FakeLLMServer(fault_rate=0.3, seed=5).start()
    try:
        run_dir = tmp_path / "run"
        cfg = parse_config(config(vendor, srv.url))
        manifest = Pipeline(cfg, run_dir).run()
        units = manifest["counts"]["units"]
        assert sum(units.values()) == 8
        assert manifest["counts"]["usage"]["cost_usd"] > 0
        assert manifest["components"]["generator"]["model"] == MODELS[vendor]
        assert sum(srv.faults_served.values()) > 0
        llm = manifest["llm"]  # the runtime's own counts reach the manifest, per role
        assert set(llm) == {"generator", "annotator"} and llm["generator"]["model"] == MODELS[vendor]
        assert sum(s["requests"] for s in llm.values()) == srv.completions
        assert sum(s["retries"] + s["reasks"] + sum(s["failures"].values()) for s in llm.values()) > 0
        with RunView(run_dir) as view:
            assert all(error for _, error in view.failed_units())  # every failure carries its reason
        # resume: only failed units are redone; cached work costs zero requests
        srv.fault_rate = 0.0
        before = srv.completions
        failed = units.get("failed", 0)
        manifest2 = Pipeline(parse_config(config(vendor, srv.url)), run_dir, resume=True).run()
        assert manifest2["counts"]["units"].get("failed", 0) == 0
        # stats add up over invocations: the resumed run's requests are the server's total
        assert sum(s["requests"] for s in manifest2["llm"].values()) == srv.completions
        assert srv.completions - before <= 4 * failed  # at most generate + annotate (+ re-asks) per failed unit
        if failed == 0:
            assert srv.completions == before
        # once more: everything is done and cached — zero requests
        before = srv.completions
        Pipeline(parse_config(config(vendor, srv.url)), run_dir, resume=True).run()
        assert srv.completions == before
    finally:
        srv.stop()
    for path in Path(run_dir).rglob("*"):
        if path.is_file():
            assert SECRET[vendor].encode() not in path.read_bytes(), path
    assert "SECRET" not in json.dumps(manifest2)


def test_cli_run_with_vendor_generator_and_annotator(vendor, tmp_path):
    """`dualalign run --generator openai|anthropic` end to end through the real CLI, cost in the manifest."""
    import os
    import subprocess
    import sys

    from fakeserver import FakeLLMServer

    srv = FakeLLMServer().start()
    try:
        url = srv.url + ("/v1" if vendor == "openai" else "")
        cfg = tmp_path / "vendor.toml"
        cfg.write_text(
            '[run]\nseed = 8\npatients = 1\nmax_notes_per_patient = 3\n[disease]\nname = "alzheimers"\n'
            f'[generator]\nname = "{vendor}"\nmodel = "{MODELS[vendor]}"\noptions = {{ base_url = "{url}" }}\n'
            '[annotator]\nname = "lexicon"\n[filters]\nuse = []\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUALALIGN_")}
        env["OPENAI_API_KEY"], env["ANTHROPIC_API_KEY"] = SECRET["openai"], SECRET["anthropic"]
        run_dir = tmp_path / "run"
        result = subprocess.run(
            [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run_dir), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "finished"
        assert manifest["components"]["generator"]["name"] == vendor
        assert manifest["counts"]["usage"]["cost_usd"] > 0
        assert manifest["counts"]["notes"] == 3 and srv.completions >= 3
        assert set(manifest["llm"]) == {"generator"}  # the lexicon annotator has no LLM runtime
        assert manifest["llm"]["generator"]["requests"] == srv.completions
        assert manifest["llm"]["generator"]["input_tokens"] > 0
        report = subprocess.run(
            [
                sys.executable,
                "-m",
                "dualalign_core.cli",
                "report",
                str(run_dir),
                "--out",
                str(tmp_path / "r.html"),
                "--no-embeddings",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert report.returncode == 0, report.stderr
        html = (tmp_path / "r.html").read_text()
        assert "rate limited" in html and "cache hits" in html and f"{vendor} / {MODELS[vendor]}" in html
        blob = b"".join(p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
        assert SECRET[vendor].encode() not in blob
    finally:
        srv.stop()

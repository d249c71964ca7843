"""End to end at the Pipeline level: the AD pack, generator and annotator = a vendor backend on the fake server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_helpers import MODELS, SECRET

from dualalign_core.config import parse_config
from dualalign_core.pipeline import Pipeline
from dualalign_core.plugins import get_registry

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")


def config(vendor: str, url: str) -> dict:
    backend = {"name": vendor, "model": MODELS[vendor],
               "options": {"base_url": url + ("/v1" if vendor == "openai" else ""), "timeout": 0.5,
                           "backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 4}}
    return {"run": {"seed": 3, "patients": 2, "max_notes_per_patient": 4}, "disease": {"name": "alzheimers"},
            "generator": backend, "annotator": backend, "filters": {"use": []}}


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
        import sqlite3

        db = sqlite3.connect(run_dir / "run.sqlite")
        for (error,) in db.execute("SELECT error FROM units WHERE status='failed'"):
            assert error  # every failure carries its reason
        db.close()
        # resume: only failed units are redone; cached work costs zero requests
        srv.fault_rate = 0.0
        before = srv.completions
        failed = units.get("failed", 0)
        manifest2 = Pipeline(parse_config(config(vendor, srv.url)), run_dir, resume=True).run()
        assert manifest2["counts"]["units"].get("failed", 0) == 0
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

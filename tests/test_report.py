"""The alignment audit report: real numbers, every section, self-contained, renders in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from report_support import audit_run
from typer.testing import CliRunner

from dualalign_core.cli import app
from dualalign_core.report import build_report, collect_metrics
from dualalign_core.report.html import SECTIONS
from dualalign_core.text.diversity import distinct_n, mean_pairwise_similarity, near_duplicate_rate

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,2000",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    path, metrics = build_report(audit_run(), out, embeddings=False)
    return path, metrics


def test_metrics_carry_real_numbers(report):
    _, m = report
    c = m["counts"]
    assert c["patients"] == 4 and c["plans"] == 16 and c["rejected"] >= 1 and c["ledger"] >= 2
    assert c["accepted"] == c["notes"] - c["rejected"]
    keys = [r["key"] for r in m["demographics"]]
    assert {"age_band", "sex", "race_ethnicity"} <= set(keys)
    assert all(0.0 <= r["tvd"] <= 1.0 for r in m["demographics"])
    assert len(m["risk_factors"]) > 10 and all(0 <= r["target"] <= 1 for r in m["risk_factors"])
    assert sum(sum(v.values()) for v in m["notes"]["by_year"].values()) == 16
    planned = [s for s, v in m["mentions"].items() if v["planned_notes"]]
    assert planned and all(m["mentions"][s]["found_mean"] is not None for s in planned)
    for s in planned:
        shares = [v["planned"] for k, v in m["categories"][s].items() if k != "_n"]
        assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert m["adherence"]["overall"]["notes"] == c["accepted"]
    assert m["temporal"]["violations"] == 1 and m["temporal"]["final"] == 1
    rows = {(r["filter"], r["stage"]): r for r in m["rejections"]["by_filter"]}
    assert rows["temporal_coherence", "annotated"]["final"] == 1
    assert rows["length_form", "generated"]["earlier_attempts"] >= 1
    for cats in m["rejections"]["by_stratum"].values():  # every ledger entry joins to a persona
        assert sum(v["ledger"] for v in cats.values()) == c["ledger"]
    assert m["agreement"]["annotator_b"] == "second" and m["agreement"]["n"] == 40
    assert m["diversity"]["overall"]["distinct_2"] > 0
    assert "not requested" in m["diversity"]["embedding_note"]
    assert m["usage"]["units"] == 16
    assert m["provenance"]["components"]["annotator"]["name"] == "lexicon"


def test_html_has_every_section_and_is_self_contained(report):
    path, _ = report
    html = path.read_text(encoding="utf-8")
    for sid, _title in SECTIONS:
        assert f'<section id="{sid}">' in html, sid
    assert html.count("data:image/png;base64,") >= 10
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "external resource in the report"
    assert "<script" not in html
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_report_cli_writes_html_and_json(tmp_path):
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["report", str(audit_run()), "--out", str(out), "--no-embeddings", "--json", str(js)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>") and '"counts"' in js.read_text()
    bad = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "no run.sqlite" in bad.output


def test_diversity_measures():
    assert distinct_n(["a b c", "a b c"], 1) == pytest.approx(0.5)
    assert distinct_n([], 2) == 0.0
    text = "patient reports memory decline and word finding difficulty at the visit today"
    assert near_duplicate_rate(
        [text, text + " again", "completely different words about gait and falls"]
    ) == pytest.approx(2 / 3)
    import numpy as np

    assert mean_pairwise_similarity(np.eye(3)) == pytest.approx(0.0)
    assert mean_pairwise_similarity(np.ones((1, 3))) is None


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(report, tmp_path):
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed (apt-get install chromium); CI runs this test")
    path, _ = report
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([exe, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for sid, _title in SECTIONS:
        assert f'id="{sid}"' in dom.stdout, sid
    assert "Uncaught" not in dom.stderr and ":CONSOLE(" not in dom.stderr  # no page errors or console output
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [exe, *flags, f"--screenshot={shot}", path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and shot.stat().st_size > 20_000, run.stderr[-2000:]


@pytest.mark.slow
def test_embedding_similarity_when_the_offline_minilm_is_installed():
    from dualalign_core.text.diversity import load_embedder

    embedder, note = load_embedder()
    if embedder is None:
        pytest.skip(note)
    vecs = embedder(["memory decline", "forgetful, loses keys", "ankle sprain after a fall"])
    assert vecs.shape == (3, 384)
    m = collect_metrics(audit_run(), embeddings=True)
    assert 0 < m["diversity"]["overall"]["embedding_similarity"] <= 1

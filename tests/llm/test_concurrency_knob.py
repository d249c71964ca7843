"""Every [generator]/[annotator] knob reaches its mechanism, observed from outside: `dualalign run` (in-process
CLI) against the loopback fake vendor server, which counts requests in flight and records every request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET
from typer.testing import CliRunner

from dualalign_core import cli
from dualalign_core.plugins import get_registry

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

FAST = "timeout = 5, backoff_initial = 0.01, backoff_max = 0.05"


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(cli.console, "width", 10_000)
    monkeypatch.setattr(cli.out, "width", 10_000)


def llm_section(url: str, *, vendor: str = "openai", concurrency: int | None = None, options: str = FAST) -> str:
    base = url + ("/v1" if vendor == "openai" else "")
    knob = f"concurrency = {concurrency}\n" if concurrency is not None else ""
    return f'name = "{vendor}"\nmodel = "{MODELS[vendor]}"\n{knob}options = {{ base_url = "{base}", {options} }}\n'


def run(
    tmp_path: Path,
    *,
    generator: str = 'name = "template"\n',
    annotator: str = 'name = "lexicon"\n',
    patients: int = 1,
    notes: int = 2,
    expect: int = 0,
) -> tuple[str, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f"[run]\nseed = 5\npatients = {patients}\nmax_notes_per_patient = {notes}\n"
        f'[disease]\nname = "alzheimers"\n[generator]\n{generator}[annotator]\n{annotator}'
        "[filters]\nuse = []\n"
    )
    run_dir = tmp_path / "run"
    env = {"OPENAI_API_KEY": SECRET["openai"], "ANTHROPIC_API_KEY": SECRET["anthropic"]}
    result = CliRunner().invoke(cli.app, ["run", str(cfg), "--out", str(run_dir), "-q"], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == expect, result.output
    return result.output, json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture
def slow_server():
    srv = FakeLLMServer(latency=0.4).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("role,limit", [("generator", 24), ("annotator", 20)])
def test_concurrency_sets_requests_in_flight(slow_server, tmp_path, role, limit):
    """Above the backend's class default (16): the server sees exactly C requests at once."""
    section = llm_section(slow_server.url, concurrency=limit)
    run(tmp_path, patients=4, notes=20, **{role: section})
    assert slow_server.completions >= 3 * limit
    assert slow_server.max_in_flight == limit


def test_options_concurrency_is_the_same_knob(slow_server, tmp_path):
    run(tmp_path, patients=3, notes=20, generator=llm_section(slow_server.url, options=f"{FAST}, concurrency = 20"))
    assert slow_server.max_in_flight == 20


def test_default_concurrency_is_the_backend_class_default(slow_server, tmp_path):
    run(tmp_path, patients=3, notes=20, generator=llm_section(slow_server.url))
    assert slow_server.max_in_flight == 16


def test_request_parameters_reach_the_wire(server, tmp_path):
    """temperature, max_tokens and token_param (generator); structured (annotator) — in the bodies sent."""
    gen = llm_section(
        server.url, options=f'{FAST}, temperature = 0.25, max_tokens = 321, token_param = "max_completion_tokens"'
    )
    ann = llm_section(server.url, options=f'{FAST}, structured = "json_object"')
    run(tmp_path, generator=gen, annotator=ann)
    bodies = [body for _, body in server.bodies]
    writes = [b for b in bodies if "response_format" not in b]
    labels = [b for b in bodies if "response_format" in b]
    assert len(writes) == len(labels) == 2
    assert all(
        b["model"] == MODELS["openai"]
        and b["temperature"] == 0.25
        and b["max_completion_tokens"] == 321
        and "max_tokens" not in b
        for b in writes
    )
    assert all(b["response_format"] == {"type": "json_object"} for b in labels)


def test_strategy_sentence_sends_one_request_per_sentence(server, tmp_path):
    """One request per distinct sentence (a sentence repeated word for word is a cache hit)."""
    _, manifest = run(tmp_path, annotator=llm_section(server.url, options=f'{FAST}, strategy = "sentence"'))
    sentences = manifest["counts"]["sentences"]
    assert 0.8 * sentences <= server.completions <= sentences and sentences > 20


def test_max_attempts_and_backoff(tmp_path):
    """Two 500s then success: three attempts, the waits at least backoff_initial and twice it."""
    srv = FakeLLMServer(faults=["500", "500"]).start()
    try:
        gen = llm_section(srv.url, options="timeout = 5, max_attempts = 3, backoff_initial = 0.4, backoff_max = 5")
        run(tmp_path, generator=gen, notes=1)
        assert srv.completions == 3
        gaps = [b - a for a, b in zip(srv.arrivals, srv.arrivals[1:], strict=False)]
        assert gaps[0] >= 0.4 and gaps[1] >= 0.8
    finally:
        srv.stop()


def test_timeout_and_max_attempts_fail_the_unit(tmp_path):
    """A server slower than ``timeout``: each attempt is cut off; after max_attempts the note fails."""
    srv = FakeLLMServer(latency=1.5).start()
    try:
        gen = llm_section(srv.url, options="timeout = 0.3, max_attempts = 2, backoff_initial = 0.01")
        text, manifest = run(tmp_path, generator=gen, notes=1, expect=1)
        assert srv.completions == 2 and manifest["counts"]["units"] == {"failed": 1}
        assert "timeout" in text.lower()
    finally:
        srv.stop()


def test_breaker_stops_the_run(tmp_path):
    srv = FakeLLMServer(faults=["500"] * 50).start()
    try:
        gen = llm_section(srv.url, options=f"{FAST}, max_attempts = 20, breaker_window = 4, breaker_threshold = 0.5")
        text, _ = run(tmp_path, generator=gen, notes=3, expect=1)
        assert "error rate" in text and srv.completions <= 6
    finally:
        srv.stop()


def test_rpm_spaces_requests_after_the_burst(server, tmp_path):
    """rpm = 60: a burst of 60, then one request a second."""
    run(tmp_path, generator=llm_section(server.url, options=f"{FAST}, rpm = 60"), patients=3, notes=21)
    assert server.completions == 63
    arrivals = sorted(server.arrivals)
    late = arrivals[60:]  # the 61st waited for what refilled during the burst, the rest 1 s each
    gaps = [round(b - a, 2) for a, b in zip(late, late[1:], strict=False)]
    assert gaps and all(g >= 0.9 for g in gaps), (gaps, arrivals[59] - arrivals[0])


def test_tpm_holds_requests_back(server, tmp_path):
    """tpm = 1,200,000 with max_tokens = 20,000 (each request reserves ~20,300-20,600 tokens): after a burst
    of 58, each request waits ~1 s for its tokens; without the limit 60 requests arrive at once."""
    gen = llm_section(server.url, options=f"{FAST}, tpm = 1200000, max_tokens = 20000")
    run(tmp_path, generator=gen, patients=3, notes=20)
    assert server.completions == 60
    arrivals = sorted(server.arrivals)
    assert arrivals[-1] - arrivals[57] >= 0.9, arrivals[-1] - arrivals[0]


def test_price_option_and_vendor_prices(server, tmp_path):
    """No price in the config: the vendor's table prices a known model; ``price`` overrides it."""
    _, plain = run(tmp_path / "a", generator=llm_section(server.url))
    usage = plain["counts"]["usage"]
    assert usage["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * 2.5 + usage["output_tokens"] * 10) / 1e6, abs=2e-6
    )
    _, priced = run(
        tmp_path / "b", generator=llm_section(server.url, options=f"{FAST}, price = {{ input = 1000, output = 0 }}")
    )
    usage = priced["counts"]["usage"]
    assert usage["cost_usd"] == pytest.approx(usage["input_tokens"] * 1000 / 1e6, abs=2e-6)


def test_anthropic_vendor_prices_without_price_option(server, tmp_path):
    _, manifest = run(tmp_path, generator=llm_section(server.url, vendor="anthropic"))
    usage = manifest["counts"]["usage"]
    assert usage["cost_usd"] > 0 and usage["input_tokens"] > 0


@pytest.mark.parametrize("size,batches", [(1, 2), (10, 1)])
def test_batch_goes_through_the_batch_api(server, tmp_path, size, batches):
    """batch = true: no completion requests; batch_size = 1 submits each request as its own batch."""
    gen = llm_section(
        server.url, options=f"{FAST}, batch = true, batch_size = {size}, batch_flush_s = 0.2, batch_poll_s = 0.05"
    )
    _, manifest = run(tmp_path, generator=gen)
    assert server.completions == 0 and server.counts["batch item"] == 2
    assert server.counts["POST /v1/batches"] == batches
    assert manifest["counts"]["units"] == {"accepted": 2}


@pytest.mark.parametrize("role", ["generator", "annotator"])
def test_missing_key_stops_before_any_work(server, tmp_path, role, monkeypatch):
    section = llm_section(server.url, vendor="anthropic")
    cfg = tmp_path / "c.toml"
    other = 'name = "template"\n' if role == "annotator" else 'name = "lexicon"\n'
    sections = {role: section, "annotator" if role == "generator" else "generator": other}
    cfg.write_text(
        f'[disease]\nname = "alzheimers"\n[generator]\n{sections["generator"]}[annotator]\n{sections["annotator"]}'
    )
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        cli.app, ["run", str(cfg), "--out", str(run_dir), "-q"], env={"ANTHROPIC_API_KEY": None}
    )
    assert result.exit_code == 2, result.output
    assert "ANTHROPIC_API_KEY" in result.output and f"{role}.name" in result.output
    assert not run_dir.exists() and server.completions == 0


def test_concurrency_given_twice_differently_is_bad_input(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[disease]\nname = "alzheimers"\n[generator]\nname = "openai"\nconcurrency = 8\n'
        'options = { base_url = "http://127.0.0.1:9/v1", concurrency = 9 }\n'
    )
    result = CliRunner().invoke(cli.app, ["run", str(cfg), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 2 and "generator.options.concurrency" in result.output, result.output
    assert "concurrency given twice" in result.output and not (tmp_path / "run").exists()

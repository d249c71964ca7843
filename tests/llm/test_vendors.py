"""Gemini, Amazon Bedrock and Azure OpenAI, each through its own SDK against its plugin's loopback server
speaking the vendor's real wire: the backend contract, ``dualalign run`` and ``annotate`` end to end (structured
output, faults retried, resume with 0 requests, cost from the shipped prices, no secret in any file), batches."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import StubDisease, make_persona, make_plan
from vendor_stubs import VENDORS, Vendor, vendor_params

from dualalign_core.context import RunContext
from dualalign_core.llm import for_role
from dualalign_core.llm.runtime import LLMRuntime
from dualalign_core.plugins import get_registry
from dualalign_core.run.store import RunStore
from dualalign_core.testing import check_backend, to_toml

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

FAST = {"timeout": 1.0, "backoff_initial": 0.01, "backoff_max": 0.05, "max_attempts": 6}
NOTES = [{"id": f"n{i}", "text": f"S: Pt forgets names {i}.\nO: BP 120/80.\nA: Daughter is worried."} for i in range(4)]


@pytest.fixture(params=vendor_params())
def wire(request) -> Vendor:
    return request.param


@pytest.fixture
def stub(wire):
    server = wire.server().start()
    yield server
    server.stop()


def options(server, **extra: Any) -> dict[str, Any]:
    return {**server.backend_options(), **FAST, **extra}


def backend(wire: Vendor, server, **extra: Any):
    return get_registry().get("llm_backend", wire.backend)(model=wire.model, **options(server, **extra))


def write_config(path: Path, wire: Vendor, server) -> Path:
    llm = {"name": wire.backend, "model": wire.model, "options": options(server)}
    doc = {
        "run": {"seed": 4, "patients": 2, "max_notes_per_patient": 3},
        "disease": {"name": "alzheimers"},
        "generator": llm,
        "annotator": llm,
        "filters": {"use": []},
    }
    path.write_text(to_toml(doc))
    return path


def schema_requests(server) -> int:
    """Completion requests that asked for structured output in the vendor's own field (tool, response schema)."""
    asks = [server.read_ask(server.completion_wire("POST", path), path, body) for path, body in server.bodies]
    return sum(a.schema is not None for a in asks)


def assert_no_secret(wire: Vendor, server, run: Path, *outputs: str) -> None:
    secrets = wire.secrets(server)
    assert secrets
    for path in run.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, (path, secret)
    for text in outputs:
        assert not any(s in text for s in secrets)


def test_check_backend_through_the_plugins_own_server(wire):
    cls = get_registry().get("llm_backend", wire.backend)
    report = check_backend(cls, name=wire.backend, server=wire.server(), model=wire.model)
    assert report.name == wire.backend
    assert {"registered", "preflight", "json_schema", "length", "rate_limit", "server_error"} <= set(report.checks)


def test_run_end_to_end_faults_resume_cost_and_secrets(wire, stub, tmp_path):
    cfg = write_config(tmp_path / "run.toml", wire, stub)
    run = tmp_path / "run"
    env = cli_env(**wire.env(stub))
    stub.faults.extend(["429", "500", "timeout", "503", "drop"])
    first = dualalign("run", str(cfg), "--out", str(run), "--quiet", env=env)
    assert first.returncode == 0, first.stderr
    assert not stub.faults and sum(stub.faults_served.values()) == 5  # every fault met and retried
    paid = stub.completions
    assert schema_requests(stub) >= 1  # the annotator asked in the vendor's structured-output field
    manifest = json.loads((run / "manifest.json").read_text())
    llm = manifest["llm"]
    assert sum(s["retries"] for s in llm.values()) >= 5 and sum(s["requests"] for s in llm.values()) == paid
    # cost from the plugin's shipped price table, note by note
    price = LLMRuntime(backend(wire, stub)).price
    assert price.source and price.source.startswith("https://")
    out = tmp_path / "export"
    assert dualalign("export", str(run), "--format", "jsonl", "--out", str(out)).returncode == 0
    notes = [json.loads(x) for x in (out / "notes.jsonl").read_text().splitlines()]
    assert notes and all(n["usage"]["cost_usd"] > 0 for n in notes)
    for n in notes:
        u = n["usage"]
        assert u["cost_usd"] == pytest.approx(price.cost(u["input_tokens"], u["output_tokens"]), rel=1e-6)
    labels = [json.loads(x) for x in (out / "labels.jsonl").read_text().splitlines()]
    assert "cognitive_impairment" in {lb["label"] for lb in labels}
    # resume: everything is done and cached, zero requests
    again = dualalign("run", "--out", str(run), "--resume", "--quiet", env=env)
    assert again.returncode == 0, again.stderr
    assert stub.completions == paid
    assert_no_secret(wire, stub, run, first.stdout, first.stderr, again.stdout, again.stderr)
    assert any(a for a in stub.auth)  # credentials travelled in headers, from the environment


def test_annotate_structured_then_rerun_free(wire, stub, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES))
    out = tmp_path / "labels.jsonl"
    opts = [arg for k, v in options(stub).items() for arg in ("--option", f"{k}={json.dumps(v)}")]
    args = ["annotate", str(src), "-a", wire.backend, "--model", wire.model, "--out", str(out), *opts]
    env = cli_env(**wire.env(stub))
    stub.faults.extend(["429", "500"])
    first = dualalign(*args, env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["failed"] == 0 and summary["cost_usd"] > 0
    assert schema_requests(stub) == stub.completions == len(NOTES) + 2
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["note_id"] for r in rows} == {n["id"] for n in NOTES}
    assert {r["label"] for r in rows} >= {"cognitive_impairment", "notice_by_others"}
    second = dualalign(*args, env=env)
    assert second.returncode == 0 and stub.completions == len(NOTES) + 2
    assert_no_secret(wire, stub, tmp_path, first.stdout, first.stderr)


def test_rate_limit_wait_is_honoured(wire, stub, monkeypatch, ctx):
    """A 429's wait (Retry-After, or Gemini's RetryInfo in the body) is honoured; Bedrock sends none."""
    if wire.id == "bedrock":
        pytest.skip("Bedrock's ThrottlingException carries no wait")
    for k, v in wire.env(stub).items():
        monkeypatch.setenv(k, v)
    stub.faults.append("429s")  # a whole second
    gen = for_role("generator", backend(wire, stub))
    t0 = time.monotonic()
    asyncio.run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert time.monotonic() - t0 >= 1.0 and stub.completions == 2


BATCH = {"batch": True, "batch_size": 3, "batch_flush_s": 0.05, "batch_poll_s": 0.05}


def test_batch_half_price_and_resumable(wire, stub, tmp_path, monkeypatch):
    if not get_registry().get("llm_backend", wire.backend)(model=wire.model, **options(stub)).supports_batch:
        pytest.skip(f"{wire.id}: no batch mode (see its docs page)")
    for k, v in wire.env(stub).items():
        monkeypatch.setenv(k, v)
    run_dir = tmp_path / "run"

    async def generate(gen, ctx, seeds):
        return await asyncio.gather(*(gen.generate(make_plan(s), make_persona(), s, ctx) for s in seeds))

    stub.hold_batches = True
    store = RunStore(run_dir)
    ctx = RunContext(run_id="r", seed=1, disease=StubDisease(), store=store)  # type: ignore[arg-type]
    gen = for_role("generator", backend(wire, stub, **BATCH))

    async def submit_then_die():
        task = asyncio.ensure_future(generate(gen, ctx, [1, 2, 3]))
        while not gen.runtime.counters.batches:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(submit_then_die())
    store.close()
    assert len(stub.batches) == 1 and stub.completions == 0
    stub.release_batches()
    store = RunStore(run_dir)
    ctx = RunContext(run_id="r", seed=1, disease=StubDisease(), store=store)  # type: ignore[arg-type]
    gen2 = for_role("generator", backend(wire, stub, **BATCH))
    outs = asyncio.run(generate(gen2, ctx, [1, 2, 3]))
    assert all(o.text.startswith("S:") for o in outs)
    assert len(stub.batches) == 1 and stub.counts["batch item"] == 3 and gen2.runtime.counters.batches == 0
    usage = outs[0].usage
    price = gen2.runtime.price
    assert usage.cost_usd == pytest.approx(price.cost(usage.input_tokens, usage.output_tokens) / 2, rel=1e-6)
    store.close()


def test_shipped_price_tables_carry_their_source():
    from dualalign_core.llm.pricing import package_prices

    for package, resource, model in (
        ("dualalign_gemini", "prices.json", "gemini-2.5-flash"),
        ("dualalign_bedrock", "prices.json", "anthropic.claude-sonnet-4-5"),
        ("dualalign_openai", "azure_prices.json", "gpt-4o"),
    ):
        pytest.importorskip(package)
        table = package_prices(package, resource)
        assert table[model].input > 0 and (table[model].source or "").startswith("https://"), package


def test_bedrock_prices_inference_profiles_and_dated_ids():
    pytest.importorskip("dualalign_bedrock")
    from dualalign_bedrock import BedrockBackend

    from dualalign_core.llm.pricing import lookup

    base = lookup("anthropic.claude-sonnet-4-5-20250929-v1:0", BedrockBackend.prices)
    assert base is not None and base.input == 3.0
    assert lookup("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", BedrockBackend.prices) == base
    assert lookup("amazon.nova-lite-v1:0", BedrockBackend.prices).output == 0.24  # type: ignore[union-attr]


def test_bedrock_without_credentials_or_region_exits_2_before_any_work(tmp_path):
    wire = VENDORS["bedrock"]
    pytest.importorskip("boto3")
    if "bedrock" not in get_registry().names("llm_backend"):
        pytest.skip("bedrock plugin not installed")
    server = wire.server()  # never started: nothing may reach it
    env = cli_env(**{k: v for k, v in server.environ().items() if not k.startswith("AWS_ACCESS")})
    env = {k: v for k, v in env.items() if k not in ("AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(NOTES[0]) + "\n")
    base = ["annotate", str(src), "-a", "bedrock", "--out", str(tmp_path / "o.jsonl")]
    no_creds = dualalign(*base, "--option", 'region="us-east-1"', env=env)
    assert no_creds.returncode == 2 and "no AWS credentials" in no_creds.stderr, no_creds.stderr
    no_region = dualalign(*base, env={**env, **server.environ()} | {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""})
    assert no_region.returncode == 2 and "region" in no_region.stderr, no_region.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_azure_entra_token_and_api_version(tmp_path, monkeypatch, ctx):
    wire = VENDORS["azure"]
    server = wire.server().start()
    try:
        monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "entra-SECRET-token")
        gen = for_role("generator", backend(wire, server, azure_auth="entra", api_version="2025-01-01-preview"))
        asyncio.run(gen.generate(make_plan(), make_persona(), 11, ctx))
        assert server.auth == ["Bearer entra-SECRET-token"]
        assert server.queries == ["api-version=2025-01-01-preview"] and server.deployments == ["notes-gpt4o"]
        assert server.bodies[0][1]["model"] == "notes-gpt4o"
        monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN")
        env = cli_env(AZURE_OPENAI_AD_TOKEN="")
        src = tmp_path / "in.jsonl"
        src.write_text(json.dumps(NOTES[0]) + "\n")
        args = ["annotate", str(src), "-a", "openai", "--out", str(tmp_path / "o.jsonl")]
        opts = ["--option", f'azure_endpoint="{server.url}"', "--option", 'azure_auth="entra"']
        missing = dualalign(*args, *opts, env={k: v for k, v in env.items() if k != "AZURE_OPENAI_AD_TOKEN"})
        assert missing.returncode == 2, missing.stderr
        assert "AZURE_OPENAI_AD_TOKEN" in missing.stderr or "azure-identity" in missing.stderr
    finally:
        server.stop()

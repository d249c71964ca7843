"""Tools for plugin authors through the real CLI: ``plugins --options``, ``validate CONFIG``'s resolved
components; and the public test kit (``dualalign_core.testing``) on the in-repo plugins."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dualalign_core.testing import (
    ContractError,
    FakeLLMServer,
    check_backend,
    example_pack,
    note_bundle,
    run_context,
    run_pipeline,
    to_toml,
)
from support import TOY_PACK, dualalign, toy_config


def test_plugins_options_prints_the_schema_with_defaults(plugin_site: Path) -> None:
    shown = dualalign("plugins", "--options", "slow-echo", site=plugin_site)
    assert shown.returncode == 0, shown.stderr
    (doc,) = json.loads(shown.stdout)
    assert doc["kind"] == "generator" and doc["plugin"] == "dualalign-testkit" and doc["version"] == "0.0.7"
    assert doc["options_schema"]["type"] == "object" and "properties" in doc["options_schema"]
    backend = json.loads(dualalign("plugins", "--options", "openai").stdout)
    (openai,) = backend
    assert openai["kind"] == "llm_backend" and "base_url" in openai["options_schema"]["properties"]


def test_plugins_options_lists_every_kind_under_one_name() -> None:
    shown = dualalign("plugins", "--options", "uniform")
    assert shown.returncode == 0, shown.stderr
    assert {d["kind"] for d in json.loads(shown.stdout)} == {"persona_source", "trajectory_sampler"}


def test_plugins_options_unknown_name_exits_2_naming_it() -> None:
    missing = dualalign("plugins", "--options", "no-such-thing")
    assert missing.returncode == 2 and "--options" in missing.stderr and "'no-such-thing'" in missing.stderr
    assert "lexicon" in missing.stderr  # the registered names, to pick from
    assert missing.stdout == ""


def test_validate_lists_the_resolved_components(plugin_site: Path, tmp_path: Path) -> None:
    cfg = toy_config(tmp_path / "c.toml")
    shown = dualalign("validate", str(cfg), site=plugin_site)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("generator.name: slow-echo [generator] from dualalign-testkit 0.0.7" in ln for ln in lines)
    assert any("annotator.name: keyword [annotator]" in ln for ln in lines)
    assert any(ln.strip().startswith("filters.use[0]: short-note") and '"min_chars": 60' in ln for ln in lines)
    assert any("personas.source: prevalence [persona_source] from dualalign-core" in ln for ln in lines)


def test_validate_bad_component_option_exits_2_naming_file_and_field(plugin_site: Path, tmp_path: Path) -> None:
    cfg = toy_config(tmp_path / "c.toml", filters='use = ["short-note"]\noptions = {short-note = {min_chars = "many"}}')
    bad = dualalign("validate", str(cfg), site=plugin_site)
    assert bad.returncode == 2
    assert f"{cfg}: filters.options.short-note.min_chars" in bad.stderr and "Traceback" not in bad.stderr


def test_check_backend_passes_the_shipped_backends() -> None:
    from dualalign_anthropic import AnthropicBackend
    from dualalign_openai import OpenAIBackend

    report = check_backend(OpenAIBackend, name="openai")
    assert report.checks == (
        "subclass",
        "registered",
        "options",
        "preflight",
        "complete",
        "json_schema",
        "length",
        "rate_limit",
        "server_error",
        "aclose",
    )
    assert check_backend(AnthropicBackend, wire="anthropic").name == "anthropic"


def test_check_backend_names_the_broken_rule() -> None:
    from dualalign_openai import OpenAIBackend

    from dualalign_core.llm.faults import TransientError

    class Untranslated(OpenAIBackend):
        async def complete(self, request):  # noqa: ANN001, ANN202 - a backend that hides a 429 as a 5xx
            try:
                return await super().complete(request)
            except Exception as exc:  # noqa: BLE001
                raise TransientError(str(exc)) from None

    with pytest.raises(ContractError, match="registered"):
        check_backend(Untranslated)
    with pytest.raises(ContractError, match="rate_limit: HTTP 429 raised TransientError"):
        check_backend(Untranslated, registered=False)
    with pytest.raises(ContractError, match="subclass"):
        check_backend(dict)


def test_fake_server_counts_requests_in_flight() -> None:
    import httpx

    with FakeLLMServer(latency=0.3) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        threads = [
            threading.Thread(
                target=httpx.post, args=(server.url + "/v1/chat/completions",), kwargs={"json": body, "timeout": 10}
            )
            for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 5  # a client can read its reply before the server's task has finished
        while server.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.max_in_flight == 5 and server.in_flight == 0 and server.completions == 5


def test_run_pipeline_and_run_context_on_the_example_pack(tmp_path: Path) -> None:
    pack = example_pack()
    assert pack.negative_label == "no_symptom"
    result = run_pipeline(
        {"run": {"seed": 3, "patients": 2, "max_notes_per_patient": 2}, "disease": {"path": str(pack.directory)}},
        tmp_path / "run",
    )
    assert result.exit_code == 0 and result.manifest["status"] == "finished"
    assert result.manifest["counts"]["notes"] >= 1
    again = run_pipeline({"run": {"seed": 3}, "disease": {"path": str(TOY_PACK)}}, tmp_path / "run", expect_exit=2)
    assert "--resume" in again.output
    ctx = run_context(TOY_PACK, run_dir=tmp_path / "ctx")
    assert ctx.disease.name == "toy_parkinsonism" and ctx.store is not None
    bundle = note_bundle(
        "S: Tremor. A: Stable.", sentences=["S: Tremor.", "A: Stable."], labels=["motor_symptoms", "none"]
    )
    assert [lb.binary for lb in bundle.labels] == [True, False] and bundle.sentences[1].start == 11


def test_to_toml_round_trips_a_config() -> None:
    import tomllib

    doc = {
        "run": {"seed": 1, "name": 'a "quoted" run'},
        "generator": {
            "name": "openai",
            "options": {"temperature": 0.5, "price": {"input": 1.0, "output": 2}, "batch": False},
        },
        "filters": {"use": ["a", "short-note"], "options": {"short-note": {"min_chars": 3}}},
    }
    assert tomllib.loads(to_toml(doc)) == doc

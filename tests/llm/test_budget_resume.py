"""The cost budget through the CLI, against the loopback fake vendor server.

The budget limits spending and is not part of the run's identity: a run it stops exits 1 ("stopped by
budget") and continues under a raised ``--max-cost`` (with or without CONFIG). A missing API key is found by
the backend's preflight before anything is written (exit 2 naming the variable, never a key).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_helpers import MODELS, SECRET
from typer.testing import CliRunner

from dualalign_core import cli
from dualalign_core.plugins import get_registry

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

# gpt-4o at USD 1 per million tokens: a note reserves ~0.0013 worst case (1024 output tokens) and costs ~0.0004
CHEAP = "price = { input = 1.0, output = 1.0 }, "


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    """Messages are asserted whole: no wrapping by the console."""
    monkeypatch.setattr(cli.console, "width", 10_000)
    monkeypatch.setattr(cli.out, "width", 10_000)


def write_config(
    path: Path, url: str, *, vendor: str = "openai", limit: float | None = None, notes: int = 4, options: str = CHEAP
) -> Path:
    base = url + ("/v1" if vendor == "openai" else "")
    limits = f"[limits]\nmax_cost_usd = {limit}\n" if limit is not None else ""
    path.write_text(
        f'[run]\nseed = 5\npatients = 1\nmax_notes_per_patient = {notes}\n[disease]\nname = "alzheimers"\n'
        f'[generator]\nname = "{vendor}"\nmodel = "{MODELS[vendor]}"\nconcurrency = 1\n'
        f'options = {{ {options}base_url = "{base}", timeout = 2, backoff_initial = 0.01 }}\n'
        f'[annotator]\nname = "lexicon"\n[filters]\nuse = []\n{limits}'
    )
    return path


def invoke(*args: str, keys: bool = True, **env: str):
    environ = {
        "OPENAI_API_KEY": SECRET["openai"] if keys else None,
        "ANTHROPIC_API_KEY": SECRET["anthropic"] if keys else None,
        **env,
    }
    result = CliRunner().invoke(cli.app, list(args), env=environ)
    text = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in text
    return result.exit_code, text


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def test_stopped_by_budget_exits_1_and_a_raised_budget_finishes_it(server, tmp_path):
    cfg = write_config(tmp_path / "c.toml", server.url)
    run_dir = tmp_path / "run"
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q", "--max-cost", "0.002")
    assert code == 1, text
    assert "stopped by budget" in text and "resume with a higher --max-cost" in text and "$0.002" in text
    first = manifest(run_dir)
    assert first["status"] == "stopped" and first["counts"]["notes"] < 4
    spent = first["counts"]["usage"]["cost_usd"]
    assert 0 < spent <= 0.002

    # the same limit again: still stopped, nothing spent twice
    code, text = invoke("run", "--resume", "--out", str(run_dir), "-q")
    assert code == 1 and "stopped by budget" in text, text
    # a raised budget, no CONFIG: continues the same run to the end
    code, text = invoke("run", "--resume", "--out", str(run_dir), "-q", "--max-cost", "1")
    assert code == 0, text
    done = manifest(run_dir)
    assert done["status"] == "finished" and done["counts"]["notes"] == 4
    assert done["run_id"] == first["run_id"]
    assert done["config"]["limits"] == {"max_cost_usd": 1.0}


def test_raised_budget_in_the_config_continues_the_run(server, tmp_path):
    run_dir = tmp_path / "run"
    cfg = write_config(tmp_path / "c.toml", server.url, limit=0.001)
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q")
    assert code == 1 and "stopped by budget" in text and "$0.001" in text, text
    assert "$0.00 " not in text
    stopped = manifest(run_dir)
    write_config(cfg, server.url, limit=5)  # raised in the file: the same run, not "config differs"
    code, text = invoke("run", str(cfg), "--resume", "--out", str(run_dir), "-q")
    assert code == 0, text
    assert manifest(run_dir)["run_id"] == stopped["run_id"] and manifest(run_dir)["counts"]["notes"] == 4
    # CONFIG and --max-cost together on a finished run: nothing to do, exit 0
    code, text = invoke("run", str(cfg), "--resume", "--out", str(run_dir), "-q", "--max-cost", "9")
    assert code == 0, text


def test_zero_budget_allows_no_llm_spend(server, tmp_path):
    cfg = write_config(tmp_path / "c.toml", server.url)
    code, text = invoke("run", str(cfg), "--out", str(tmp_path / "run"), "-q", "--max-cost", "0")
    assert code == 1 and "stopped by budget" in text and "4 of 4 notes unfinished" in text, text
    assert server.completions == 0
    assert manifest(tmp_path / "run")["counts"]["usage"]["cost_usd"] == 0


def test_resume_without_config_refuses_identity_changing_options(server, tmp_path):
    cfg = write_config(tmp_path / "c.toml", server.url, notes=1)
    run_dir = tmp_path / "run"
    assert invoke("run", str(cfg), "--out", str(run_dir), "-q")[0] == 0
    for option, value, key in (
        ("--patients", "3", "run.patients"),
        ("--seed", "9", "run.seed"),
        ("--generator", "template", "generator.name"),
        ("--annotator", "keyword-less", "annotator.name"),
    ):
        code, text = invoke("run", "--resume", "--out", str(run_dir), "-q", option, value)
        assert code == 2, (option, text)
        assert key in text and option in text and "would change the run being resumed" in text
    # the stored values themselves are accepted
    code, text = invoke(
        "run", "--resume", "--out", str(run_dir), "-q", "--patients", "1", "--seed", "5", "--generator", "openai"
    )
    assert code == 0, text


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_missing_api_key_is_bad_input_before_any_work(server, tmp_path, vendor):
    env_var = f"{vendor.upper()}_API_KEY"
    options = "" if vendor == "anthropic" else 'api_key_env = "MY_OPENAI_KEY", '
    cfg = write_config(tmp_path / "c.toml", server.url, vendor=vendor, options=options)
    wanted = env_var if vendor == "anthropic" else "MY_OPENAI_KEY"
    run_dir = tmp_path / "run"
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q", keys=False)
    assert code == 2, text
    assert wanted in text and "generator.name" in text and str(cfg) in text
    assert not run_dir.exists() and server.completions == 0
    code, text = invoke("validate", str(cfg), keys=False)
    assert code == 2 and wanted in text, text
    # with the key set the same config runs (and the key is printed nowhere)
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q", **({"MY_OPENAI_KEY": SECRET["openai"]}))
    assert code == 0, text
    assert SECRET[vendor] not in text and SECRET["openai"] not in text


def test_openai_without_base_url_needs_its_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[disease]\nname = "alzheimers"\n[generator]\nname = "openai"\n')
    code, text = invoke("run", str(cfg), "--out", str(tmp_path / "run"), "-q", keys=False)
    assert code == 2 and "OPENAI_API_KEY" in text and "generator.name" in text, text
    assert not (tmp_path / "run").exists()


def test_failed_units_under_a_budget_are_failures_not_a_budget_stop(tmp_path):
    from fakeserver import FakeLLMServer

    srv = FakeLLMServer(faults=["500"]).start()
    try:
        cfg = write_config(tmp_path / "c.toml", srv.url, limit=1, options=CHEAP + "max_attempts = 1, ")
        code, text = invoke("run", str(cfg), "--out", str(tmp_path / "run"), "-q")
        assert code == 1 and "stopped by budget" not in text, text
        assert manifest(tmp_path / "run")["status"] == "finished_with_failures"
        code, text = invoke("run", "--resume", "--out", str(tmp_path / "run"), "-q")
        assert code == 0 and manifest(tmp_path / "run")["counts"]["notes"] == 4, text
    finally:
        srv.stop()


def test_annotate_with_an_llm_annotator_checks_its_key_before_any_work(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "Forgets appointments."}\n')
    out = tmp_path / "out.jsonl"
    code, text = invoke("annotate", str(src), "--annotator", "anthropic", "--out", str(out), keys=False)
    assert code == 2 and "ANTHROPIC_API_KEY" in text and "--annotator" in text, text
    assert not out.exists() and not out.with_name(out.name + ".state").exists()


def test_an_unpriced_model_under_a_budget_is_exit_2_before_any_work(server, tmp_path, caplog):
    """A model no price table knows would run at $0 and a budget could never stop it: refused up front, naming
    the model and the ways out; ``allow_unpriced`` runs it; without a budget it runs with a warning."""
    unpriced = 'model = "house-model-7b", '
    cfg = write_config(tmp_path / "c.toml", server.url, limit=0.0001, options=unpriced)
    cfg.write_text(cfg.read_text().replace('model = "gpt-4o"\n', ""))
    run_dir = tmp_path / "run"
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q")
    assert code == 2 and not run_dir.exists() and server.completions == 0
    assert "limits.max_cost_usd" in text and "'house-model-7b' has no price" in text
    assert "allow_unpriced = true" in text and "options.price" in text
    cfg.write_text(cfg.read_text().replace(unpriced, unpriced + "allow_unpriced = true, "))
    code, text = invoke("run", str(cfg), "--out", str(run_dir), "-q")
    assert code == 0, text
    free = write_config(tmp_path / "free.toml", server.url, options=unpriced)
    free.write_text(free.read_text().replace('model = "gpt-4o"\n', ""))
    code, text = invoke("run", str(free), "--out", str(tmp_path / "free"), "-q")
    assert code == 0 and "'house-model-7b' has no price: its calls are counted as $0" in caplog.text

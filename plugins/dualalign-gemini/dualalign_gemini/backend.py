"""Google Gemini over the official ``google-genai`` SDK: the Gemini API (key) or Vertex AI (Google Cloud
credentials), structured replies through the SDK's response schema, Batch Mode for the Gemini API.

The SDK's own retries are off (no ``retry_options``): retries, throttling, caching and cost live in the core.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dualalign_core.api import (
    BadInput,
    BatchItem,
    BatchStatus,
    LLMBackend,
    LLMError,
    LLMRequest,
    LLMResponse,
    Price,
    options_schema,
    package_prices,
)
from dualalign_gemini.wire import config, contents, item_error, parse_response, translate

if TYPE_CHECKING:  # the SDK is imported when a client is built, not when the plugin is listed
    from google import genai

ENDED = {"JOB_STATE_SUCCEEDED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
FAILED = {"JOB_STATE_FAILED"}


class GeminiBackend(LLMBackend):
    """Gemini models through ``generateContent`` (Gemini API, or Vertex AI with ``vertexai = true``)."""

    provider: ClassVar[str] = "gemini"
    default_model: ClassVar[str] = "gemini-2.5-flash"
    api_key_env: ClassVar[str] = "GEMINI_API_KEY"
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    prices: ClassVar[dict[str, Price]] = package_prices(__package__ or "dualalign_gemini")
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        structured={
            "enum": ["json_schema", "response_schema", "prompt"],
            "default": "json_schema",
            "description": "json_schema: the SDK's response_json_schema (JSON Schema as is); response_schema: "
            "its OpenAPI-subset response_schema (older models); prompt: the schema in the system instruction.",
        },
        vertexai={"type": "boolean", "default": False, "description": "Vertex AI instead of the Gemini API."},
        project={"type": "string", "description": "Vertex AI: the Google Cloud project (unset: GOOGLE_CLOUD_PROJECT)."},
        location={"type": "string", "description": "Vertex AI: the region (unset: GOOGLE_CLOUD_LOCATION or global)."},
        api_version={"type": "string", "description": "Unset: the SDK's (v1beta on the Gemini API)."},
        thinking_budget={
            "type": "integer",
            "minimum": -1,
            "description": "Thinking tokens a reply may spend (0 turns thinking off where the model allows; -1 "
            "dynamic). Unset: the model's default. Thinking tokens count against max_tokens and are billed.",
        },
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._client: genai.Client | None = None
        self.structured: str = self.options["structured"]
        self.vertexai: bool = self.options["vertexai"]
        self.supports_json_schema = self.structured != "prompt"  # type: ignore[misc]
        self.supports_batch = not self.vertexai  # type: ignore[misc]  # Vertex batches read from GCS/BigQuery

    def preflight(self) -> None:
        """The Gemini API needs its key; Vertex AI needs a project and Google Cloud credentials (ADC)."""
        if not self.vertexai:
            self.api_key(required=True)
            return
        if not (self.options.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT")):
            raise BadInput("gemini with vertexai = true needs the project option or GOOGLE_CLOUD_PROJECT")
        if self.options.get("api_key_env"):  # Vertex AI express mode: a key instead of credentials
            self.api_key(required=True)
            return
        import google.auth
        import google.auth.exceptions

        try:
            google.auth.default()
        except google.auth.exceptions.DefaultCredentialsError:
            raise BadInput(
                "no Google Cloud credentials for Vertex AI (run `gcloud auth application-default login` or set "
                "GOOGLE_APPLICATION_CREDENTIALS)"
            ) from None

    @property
    def client(self) -> genai.Client:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> genai.Client:
        from google import genai

        http: Any = {"timeout": int(self.options["timeout"] * 1000)}  # milliseconds
        if self.options.get("base_url"):
            http["base_url"] = self.options["base_url"]
        if self.options.get("api_version"):
            http["api_version"] = self.options["api_version"]
        if self.vertexai:
            key = self.api_key(required=False) if self.options.get("api_key_env") else None
            return genai.Client(
                vertexai=True,
                api_key=key,
                project=None if key else self.options.get("project"),
                location=None if key else self.options.get("location"),
                http_options=http,
            )
        return genai.Client(api_key=self.api_key(), http_options=http)

    def _config(self, request: LLMRequest) -> Any:  # a GenerateContentConfigDict
        return config(request, self.structured, self.options.get("thinking_budget"))

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            resp = await self.client.aio.models.generate_content(
                model=request.model, contents=_any(contents(request)), config=self._config(request)
            )
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK/transport error becomes a retry class
            raise translate(exc) from None
        return parse_response(resp)

    # -- Batch Mode (Gemini API, inline requests) --------------------------------------------------------
    async def submit_batch(self, items: Sequence[BatchItem]) -> str:
        src: Any = [
            {"contents": contents(it.request), "config": self._config(it.request), "metadata": {"key": it.custom_id}}
            for it in items
        ]
        try:
            job = await self.client.aio.batches.create(
                model=items[0].request.model, src=src, config={"display_name": "dualalign"}
            )
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from None
        if not job.name:
            raise translate(ValueError("batch created without a name"))
        return job.name

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        try:
            job = await self.client.aio.batches.get(name=batch_id)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from None
        state = str(getattr(job.state, "value", job.state))
        if state in ENDED:
            return BatchStatus(batch_id, "ended", state)
        if state in FAILED:
            return BatchStatus(batch_id, "failed", str(job.error or state))
        return BatchStatus(batch_id, "in_progress", state)

    async def collect_batch(self, batch_id: str) -> Mapping[str, LLMResponse | LLMError]:
        try:
            job = await self.client.aio.batches.get(name=batch_id)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from None
        out: dict[str, LLMResponse | LLMError] = {}
        for item in (job.dest.inlined_responses if job.dest else None) or []:
            key = (item.metadata or {}).get("key")
            if key is None:  # without its key an item cannot be matched: a restart submits it again
                continue
            if item.error is not None or item.response is None:
                out[key] = item_error(item.error)
                continue
            try:
                out[key] = parse_response(item.response)
            except LLMError as exc:
                out[key] = exc
        return out

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None


def _any(value: Any) -> Any:
    """A plain dict/list where the SDK's typed signature wants its TypedDicts (it accepts both)."""
    return value

"""Anthropic Messages over the official ``anthropic`` SDK: prompt caching of the shared system prompt
(the generation prompt, the annotation protocol), structured replies through a forced tool, Message Batches.

The SDK's own retries are off (``max_retries=0``): retries, throttling, caching and cost live in the core.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from dualalign_core.api import (
    BatchItem,
    BatchStatus,
    ClientPool,
    LLMBackend,
    LLMError,
    LLMRequest,
    LLMResponse,
    PermanentError,
    Price,
    TransientError,
    error_message,
    from_http_status,
    options_schema,
    package_prices,
)

if TYPE_CHECKING:  # the SDK is imported when a client is built, not when the plugin is listed
    import anthropic

TOOL = "record_reply"


@lru_cache(maxsize=1)
def sends_temperature() -> bool:
    """Newer SDKs (2.x) dropped ``temperature`` from Messages; send it only where the installed SDK accepts it."""
    import anthropic

    return "temperature" in inspect.signature(anthropic.resources.messages.AsyncMessages.create).parameters


STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "max_tokens": "length",
    "refusal": "filtered",
    "pause_turn": "length",
}


class AnthropicBackend(LLMBackend):
    """Claude models through the Messages API."""

    provider: ClassVar[str] = "anthropic"
    default_model: ClassVar[str] = "claude-sonnet-4-6"
    api_key_env: ClassVar[str] = "ANTHROPIC_API_KEY"
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    prices: ClassVar[dict[str, Price]] = package_prices(__package__ or "dualalign_anthropic")
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        structured={"enum": ["tool", "prompt"], "default": "tool"},
        prompt_cache={"type": "boolean", "default": True},
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._clients: ClientPool[anthropic.AsyncAnthropic] | None = None
        self.structured: str = self.options["structured"]
        self.prompt_cache: bool = self.options["prompt_cache"]
        self.supports_json_schema = self.structured == "tool"  # type: ignore[misc]

    def preflight(self) -> None:
        """Every Anthropic endpoint (a ``base_url`` proxy too) needs the key: check it before any work."""
        self.api_key(required=True)

    def _new_client(self, connections: int) -> anthropic.AsyncAnthropic:
        import anthropic
        import httpx

        http_client = anthropic.DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        )
        return anthropic.AsyncAnthropic(
            api_key=self.api_key(),
            base_url=self.options.get("base_url"),
            timeout=self.options["timeout"],
            max_retries=0,
            http_client=http_client,
        )

    @property
    def clients(self) -> ClientPool[anthropic.AsyncAnthropic]:
        if self._clients is None:
            self._clients = ClientPool(self._new_client, int(self.concurrency))
        return self._clients

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The client for control calls (batches); messages spread over :attr:`clients`."""
        return self.clients.first()

    def params(self, request: LLMRequest) -> dict[str, Any]:
        """The Messages request body (also a Message Batches ``params`` object)."""
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.chat],
        }
        system = request.system
        if request.json_schema is not None and self.structured == "prompt":
            hint = "Reply with only a JSON object matching this JSON Schema:\n" + json.dumps(request.json_schema)
            system = f"{system}\n\n{hint}" if system else hint
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if request.cache_system and self.prompt_cache:
                block["cache_control"] = {"type": "ephemeral"}
            params["system"] = [block]
        if request.temperature is not None and sends_temperature():
            params["temperature"] = request.temperature
        if request.json_schema is not None and self.structured == "tool":
            params["tools"] = [
                {
                    "name": TOOL,
                    "description": "Record the reply, matching the schema exactly.",
                    "input_schema": request.json_schema,
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": TOOL}
        return params

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import anthropic

        try:
            message = await self.clients.next().messages.create(**self.params(request))
        except anthropic.APIError as exc:
            raise translate(exc) from None
        except (ValueError, TypeError) as exc:
            raise TransientError(f"malformed response: {type(exc).__name__}: {exc}") from None
        return parse_message(message.model_dump() if hasattr(message, "model_dump") else message)

    # -- Message Batches --------------------------------------------------------------------------------
    async def submit_batch(self, items: Sequence[BatchItem]) -> str:
        import anthropic

        requests = [{"custom_id": it.custom_id, "params": self.params(it.request)} for it in items]
        try:
            batch = await self.client.messages.batches.create(requests=requests)
        except anthropic.APIError as exc:
            raise translate(exc) from None
        return batch.id

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        import anthropic

        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except anthropic.APIError as exc:
            raise translate(exc) from None
        state = "ended" if batch.processing_status == "ended" else "in_progress"
        return BatchStatus(batch_id, state, batch.processing_status)

    async def collect_batch(self, batch_id: str) -> Mapping[str, LLMResponse | LLMError]:
        import anthropic

        out: dict[str, LLMResponse | LLMError] = {}
        try:
            async for entry in await self.client.messages.batches.results(batch_id):
                data = entry.model_dump()
                result = data["result"]
                if result["type"] == "succeeded":
                    try:
                        out[data["custom_id"]] = parse_message(result["message"])
                    except LLMError as exc:
                        out[data["custom_id"]] = exc
                elif result["type"] == "errored":
                    err = (result.get("error") or {}).get("error") or {}
                    out[data["custom_id"]] = PermanentError(f"{err.get('type')}: {err.get('message')}")
                else:  # canceled, expired: a restart submits it again
                    out[data["custom_id"]] = TransientError(f"batch item {result['type']}")
        except anthropic.APIError as exc:
            raise translate(exc) from None
        return out

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.aclose()
            self._clients = None


def translate(exc: anthropic.APIError) -> LLMError:
    """SDK error -> the core's retry classes (never carrying the request's headers)."""
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return TransientError(f"timeout: {exc}")
    if isinstance(exc, anthropic.APIConnectionError):
        return TransientError(f"connection error: {exc}")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        # 529 overloaded: back off like a 429
        return from_http_status(status, f"HTTP {status}: {_message(exc)}", exc.response.headers, overloaded=(529,))
    return TransientError(f"malformed response: {type(exc).__name__}: {exc}")


def _message(exc: anthropic.APIStatusError) -> str:
    return error_message(exc.body, str(exc.message))


def parse_message(data: Mapping[str, Any]) -> LLMResponse:
    """A Messages response body -> LLMResponse (input tokens include cache reads and writes)."""
    content = data.get("content")
    if content is None:
        raise TransientError("malformed response: no content")
    tool = next((b for b in content if b.get("type") == "tool_use" and b.get("name") == TOOL), None)
    if tool is not None:
        text = json.dumps(tool.get("input"), ensure_ascii=False)
    else:
        text = "".join(b.get("text") or "" for b in content if b.get("type") == "text")
    usage = data.get("usage") or {}
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    stop = data.get("stop_reason")
    return LLMResponse(
        text=text,
        input_tokens=(usage.get("input_tokens") or 0) + read + write,
        output_tokens=usage.get("output_tokens") or 0,
        cached_input_tokens=read,
        cache_write_tokens=write,
        finish_reason=STOP.get(stop, stop),
        model=data.get("model"),
        request_id=data.get("id"),
    )

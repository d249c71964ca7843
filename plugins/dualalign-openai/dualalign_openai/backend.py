"""OpenAI Chat Completions (and any OpenAI-compatible server, and Azure OpenAI) over the official ``openai`` SDK.

Azure OpenAI (``azure_endpoint`` set): the SDK's ``AsyncAzureOpenAI`` client, a deployment, an API version, a
key (``AZURE_OPENAI_API_KEY``) or a Microsoft Entra ID token, and Azure's own price table.

The SDK's own retries are off (``max_retries=0``): retries, throttling, caching and cost live in the core.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dualalign_core.api import (
    BadInput,
    BatchItem,
    BatchStatus,
    ClientPool,
    LLMBackend,
    LLMError,
    LLMRequest,
    LLMResponse,
    PermanentError,
    Price,
    RateLimited,
    TransientError,
    error_message,
    from_http_status,
    options_schema,
    package_prices,
)

if TYPE_CHECKING:  # the SDK is imported when a client is built, not when the plugin is listed
    import openai

FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "filtered",
    "tool_calls": "tool",
    "function_call": "tool",
}
ENDPOINT_PATH = "/chat/completions"
ENDPOINT = "/v1/chat/completions"
LOCAL_KEY = "not-needed"  # OpenAI-compatible local servers ignore the key but the SDK wants one
AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"
AZURE_TOKEN_ENV = "AZURE_OPENAI_AD_TOKEN"  # a Microsoft Entra ID token (the SDK's own variable)
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
AZURE_API_VERSION = "2024-10-21"  # the latest GA data-plane inference version when written


class OpenAIBackend(LLMBackend):
    """GPT-4-class models, or a local server via ``base_url`` (vLLM, Ollama, llama.cpp server)."""

    provider: ClassVar[str] = "openai"
    default_model: ClassVar[str] = "gpt-4o"
    api_key_env: ClassVar[str] = "OPENAI_API_KEY"
    supports_json_schema: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    prices: ClassVar[dict[str, Price]] = package_prices(__package__ or "dualalign_openai")
    options_schema: ClassVar[dict[str, Any]] = options_schema(
        structured={"enum": ["json_schema", "json_object", "prompt"], "default": "json_schema"},
        token_param={
            "enum": ["max_tokens", "max_completion_tokens"],
            "description": "No default here: max_tokens with a base_url, else max_completion_tokens.",
        },
        organization={"type": "string"},
        azure_endpoint={
            "type": "string",
            "description": "Azure OpenAI: the resource endpoint (https://NAME.openai.azure.com). Unset: OpenAI.",
        },
        azure_deployment={"type": "string", "description": "Azure OpenAI: the deployment (unset: the model)."},
        api_version={"type": "string", "description": f"Azure OpenAI: the API version (unset: {AZURE_API_VERSION})."},
        azure_auth={  # no schema defaults for Azure: an OpenAI run's options (and run id) stay as they were
            "enum": ["key", "entra"],
            "description": f"Azure OpenAI: key ({AZURE_KEY_ENV}, or api_key_env; also when unset) or entra (a "
            f"Microsoft Entra ID token: {AZURE_TOKEN_ENV}, else azure-identity's DefaultAzureCredential).",
        },
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._clients: ClientPool[openai.AsyncOpenAI] | None = None
        self.structured: str = self.options["structured"]
        self.supports_json_schema = self.structured == "json_schema"  # type: ignore[misc]
        default_param = "max_tokens" if options.get("base_url") else "max_completion_tokens"  # dynamic default
        self.token_param: str = options.get("token_param", default_param)
        self.azure: bool = bool(self.options.get("azure_endpoint"))
        if self.azure:
            if self.options.get("base_url"):
                raise BadInput("openai: azure_endpoint and base_url are exclusive (Azure builds its own URLs)")
            self.api_key_env = AZURE_KEY_ENV  # type: ignore[misc]
            self.prices = package_prices(__package__ or "dualalign_openai", "azure_prices.json")  # type: ignore[misc]
            self.deployment: str = self.options.get("azure_deployment") or self.model_name

    def preflight(self) -> None:
        """The key must be set for OpenAI itself; a ``base_url`` server needs none unless ``api_key_env`` names one;
        Azure needs its key, or with ``azure_auth = "entra"`` a token or azure-identity."""
        if self.azure and self.options.get("azure_auth") == "entra":
            self._entra_token()
        elif not self.options.get("base_url") or self.options.get("api_key_env"):
            self.api_key(required=True)

    def _entra_token(self) -> dict[str, Any]:
        """The Entra ID credential argument of the Azure client: a token from the environment or a provider."""
        import os

        token = os.environ.get(AZURE_TOKEN_ENV)
        if token:
            return {"azure_ad_token": token}
        try:
            from azure.identity import DefaultAzureCredential, get_bearer_token_provider
        except ImportError:
            raise BadInput(
                f'openai with azure_auth = "entra" needs {AZURE_TOKEN_ENV} set or azure-identity installed '
                "(pip install azure-identity)"
            ) from None
        return {"azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)}

    def _new_client(self, connections: int) -> openai.AsyncOpenAI:
        import httpx
        import openai

        base_url = self.options.get("base_url")
        # a kept-alive connection for every in-flight request of this client (no handshake per request)
        http_client = openai.DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        )
        if self.azure:
            entra = self.options.get("azure_auth") == "entra"
            return openai.AsyncAzureOpenAI(
                azure_endpoint=self.options["azure_endpoint"],
                azure_deployment=self.deployment,
                api_version=self.options.get("api_version") or AZURE_API_VERSION,
                **(self._entra_token() if entra else {"api_key": self.api_key()}),
                timeout=self.options["timeout"],
                max_retries=0,
                http_client=http_client,
            )
        key = self.api_key(required=not base_url) or LOCAL_KEY
        return openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            organization=self.options.get("organization"),
            timeout=self.options["timeout"],
            max_retries=0,
            http_client=http_client,
        )

    @property
    def clients(self) -> ClientPool[openai.AsyncOpenAI]:
        if self._clients is None:
            self._clients = ClientPool(self._new_client, int(self.concurrency))
        return self._clients

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The client for control calls (files, batches); completions spread over :attr:`clients`."""
        return self.clients.first()

    def body(self, request: LLMRequest) -> dict[str, Any]:
        """The Chat Completions request body (also one line of a Batch API input file)."""
        body: dict[str, Any] = {
            "model": self.deployment if self.azure else request.model,  # Azure routes by deployment
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            self.token_param: request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.seed is not None:
            body["seed"] = request.seed
        if request.json_schema is not None:
            if self.structured == "json_schema":
                spec = {"name": "reply", "schema": request.json_schema, "strict": True}
                body["response_format"] = {"type": "json_schema", "json_schema": spec}
            else:
                if self.structured == "json_object":
                    body["response_format"] = {"type": "json_object"}
                hint = "Reply with only a JSON object matching this JSON Schema:\n" + json.dumps(request.json_schema)
                body["messages"] = [*body["messages"], {"role": "system", "content": hint}]
        return body

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import openai

        try:
            # the SDK's own POST with our already-plain JSON body and the reply as plain JSON (cast_to=object):
            # skips re-typing the params and building a typed ChatCompletion only to dump it again (about
            # 1 ms of CPU a request); same auth, headers, status errors
            reply = await self.clients.next().post(ENDPOINT_PATH, body=self.body(request), cast_to=object)
        except openai.APIError as exc:
            raise translate(exc) from None
        except (ValueError, TypeError) as exc:  # an unreadable body from a proxy or a broken server
            raise TransientError(f"malformed response: {type(exc).__name__}: {exc}") from None
        if not isinstance(reply, Mapping):  # an SDK that still types it
            reply = reply.model_dump() if hasattr(reply, "model_dump") else None
        if not isinstance(reply, Mapping):
            raise TransientError("malformed response: not a JSON object")
        return parse_completion(reply)

    # -- Batch API --------------------------------------------------------------------------------------
    async def submit_batch(self, items: Sequence[BatchItem]) -> str:
        import openai

        endpoint = ENDPOINT_PATH if self.azure else ENDPOINT  # Azure's batch lines name the path without /v1
        lines = [
            json.dumps({"custom_id": it.custom_id, "method": "POST", "url": endpoint, "body": self.body(it.request)})
            for it in items
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            upload = await self.client.files.create(
                file=("dualalign-batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await self.client.batches.create(
                input_file_id=upload.id,
                endpoint=endpoint,  # type: ignore[arg-type]
                completion_window="24h",
            )
        except openai.APIError as exc:
            raise translate(exc) from None
        return batch.id

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        import openai

        try:
            batch = await self.client.batches.retrieve(batch_id)
        except openai.APIError as exc:
            raise translate(exc) from None
        if batch.status in ("completed", "expired", "cancelled"):  # expired/cancelled: collect what finished
            return BatchStatus(batch_id, "ended", batch.status)
        if batch.status == "failed":
            errors = getattr(batch, "errors", None)
            return BatchStatus(batch_id, "failed", str(errors.model_dump() if errors else "failed"))
        return BatchStatus(batch_id, "in_progress", batch.status)

    async def collect_batch(self, batch_id: str) -> Mapping[str, LLMResponse | LLMError]:
        import openai

        try:
            batch = await self.client.batches.retrieve(batch_id)
            out: dict[str, LLMResponse | LLMError] = {}
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await self.client.files.content(file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        custom_id, result = parse_batch_line(json.loads(line))
                        out[custom_id] = result
        except openai.APIError as exc:
            raise translate(exc) from None
        return out

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.aclose()
            self._clients = None


def translate(exc: openai.APIError) -> LLMError:
    """SDK error -> the core's retry classes (never carrying the request's headers)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return TransientError(f"timeout: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return TransientError(f"connection error: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return from_http_status(
            status,
            f"HTTP {status}: {_message(exc)}",
            exc.response.headers,
            quota_exhausted=getattr(exc, "code", None) == "insufficient_quota",
        )
    return TransientError(f"malformed response: {type(exc).__name__}: {exc}")


def _message(exc: openai.APIStatusError) -> str:
    return error_message(exc.body, str(exc.message))


def parse_completion(data: Mapping[str, Any]) -> LLMResponse:
    """A Chat Completions response body -> LLMResponse."""
    choices = data.get("choices") or []
    if not choices:
        raise TransientError("malformed response: no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    finish = choice.get("finish_reason")
    text = message.get("content") or ""
    if not text and message.get("refusal"):
        text, finish = message["refusal"], "content_filter"
    return LLMResponse(
        text=text,
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=details.get("cached_tokens") or 0,
        finish_reason=FINISH.get(finish, finish),
        model=data.get("model"),
        request_id=data.get("id"),
    )


def parse_batch_line(line: Mapping[str, Any]) -> tuple[str, LLMResponse | LLMError]:
    """One line of a Batch API output or error file."""
    custom_id = line["custom_id"]
    response = line.get("response") or {}
    status = response.get("status_code")
    if status == 200:
        try:
            return custom_id, parse_completion(response.get("body") or {})
        except LLMError as exc:
            return custom_id, exc
    error = line.get("error") or (response.get("body") or {}).get("error") or {}
    message = error.get("message", "batch item failed") if isinstance(error, dict) else str(error)
    if status == 429:
        return custom_id, RateLimited(message)
    if status is None or status >= 500:
        return custom_id, TransientError(message, status=status)
    return custom_id, PermanentError(message, status=status)

"""Bedrock's Converse API in the core's terms: the request, its reply, its errors.

No SDK import at module level: :func:`translate` imports ``botocore.exceptions`` when it runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dualalign_core.api import (
    LLMError,
    LLMRequest,
    LLMResponse,
    PermanentError,
    RateLimited,
    TransientError,
    from_http_status,
)

TOOL = "record_reply"
HINT = "Reply with only a JSON object matching this JSON Schema:\n"
STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",
    "max_tokens": "length",
    "guardrail_intervened": "filtered",
    "content_filtered": "filtered",
}
# error codes (x-amzn-ErrorType) and what they mean for a retry, whatever the HTTP status says
THROTTLED = {
    "ThrottlingException",
    "ModelNotReadyException",
    "ServiceQuotaExceededException",
    "TooManyRequestsException",
}
TRANSIENT = {"InternalServerException", "ServiceUnavailableException", "ModelTimeoutException", "ModelErrorException"}


def converse_params(request: LLMRequest, structured: str) -> dict[str, Any]:
    """The ``converse`` keyword arguments for ``request`` (a forced tool carries the JSON Schema)."""
    params: dict[str, Any] = {
        "modelId": request.model,
        "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in request.chat],
    }
    inference: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    params["inferenceConfig"] = inference
    system = request.system
    if request.json_schema is not None and structured == "prompt":
        hint = HINT + json.dumps(request.json_schema)
        system = f"{system}\n\n{hint}" if system else hint
    if system:
        params["system"] = [{"text": system}]
    if request.json_schema is not None and structured == "tool":
        spec = {
            "name": TOOL,
            "description": "Record the reply, matching the schema exactly.",
            "inputSchema": {"json": request.json_schema},
        }
        params["toolConfig"] = {"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": TOOL}}}
    return params


def parse_converse(data: Mapping[str, Any], model: str | None = None) -> LLMResponse:
    """A Converse reply -> LLMResponse (input tokens include cache reads and writes)."""
    message = (data.get("output") or {}).get("message")
    if not isinstance(message, Mapping) or message.get("content") is None:
        raise TransientError("malformed response: no output message")
    blocks = message["content"]
    tool: Any = next((b["toolUse"] for b in blocks if "toolUse" in b and b["toolUse"].get("name") == TOOL), None)
    if tool is not None:
        text = json.dumps(tool.get("input"), ensure_ascii=False)
    else:
        text = "".join(b.get("text") or "" for b in blocks)
    usage = data.get("usage") or {}
    read = usage.get("cacheReadInputTokens") or 0
    write = usage.get("cacheWriteInputTokens") or 0
    stop: Any = data.get("stopReason")
    meta = data.get("ResponseMetadata") or {}
    return LLMResponse(
        text=text,
        input_tokens=(usage.get("inputTokens") or 0) + read + write,
        output_tokens=usage.get("outputTokens") or 0,
        cached_input_tokens=read,
        cache_write_tokens=write,
        finish_reason=STOP.get(stop, stop),
        model=model,
        request_id=meta.get("RequestId"),
    )


def translate(exc: BaseException) -> LLMError:
    """A botocore error -> the core's retry classes (never carrying credentials or signed headers)."""
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error") or {}
        meta = exc.response.get("ResponseMetadata") or {}
        return from_error_code(
            str(err.get("Code") or ""), str(err.get("Message") or ""), meta.get("HTTPStatusCode") or 0
        )
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
        return TransientError(f"timeout: {type(exc).__name__}")
    if isinstance(exc, bx.NoCredentialsError | bx.NoRegionError | bx.ParamValidationError):
        return PermanentError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ResponseParserError):
        return TransientError(f"malformed response: {type(exc).__name__}")
    if isinstance(exc, bx.HTTPClientError | bx.BotoCoreError | OSError):
        return TransientError(f"connection error: {type(exc).__name__}")
    return TransientError(f"malformed response: {type(exc).__name__}: {exc}")


def from_error_code(code: str, message: str, status: int) -> LLMError:
    """An error reply by its ``x-amzn-ErrorType`` code, then its HTTP status."""
    text = f"HTTP {status} {code}: {message or 'error'}"
    if code in THROTTLED:
        return RateLimited(text, status=status or 429)
    if code in TRANSIENT:
        return TransientError(text, status=status or None)
    return from_http_status(status or 400, text, None)

"""Gemini's wire in the core's terms: the generateContent request, its reply, its errors.

No SDK import at module level: :func:`translate` imports ``google.genai.errors`` when it runs.
"""

from __future__ import annotations

import json
import re
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

HINT = "Reply with only a JSON object matching this JSON Schema:\n"
FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "filtered",
    "RECITATION": "filtered",
    "LANGUAGE": "filtered",
    "BLOCKLIST": "filtered",
    "PROHIBITED_CONTENT": "filtered",
    "SPII": "filtered",
    "IMAGE_SAFETY": "filtered",
}
_TRANSPORT_MODULES = ("httpx", "httpx2", "httpcore", "aiohttp", "h11", "anyio")


def contents(request: LLMRequest) -> list[dict[str, Any]]:
    """The chat turns as Gemini ``contents`` (the assistant's role is ``model``)."""
    return [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]} for m in request.chat
    ]


def config(request: LLMRequest, structured: str, thinking_budget: int | None) -> dict[str, Any]:
    """The ``GenerateContentConfig`` (as a dict) for ``request``: system instruction, sampling, structured output."""
    cfg: dict[str, Any] = {"max_output_tokens": request.max_tokens}
    system = request.system
    if request.json_schema is not None:
        if structured == "prompt":
            hint = HINT + json.dumps(request.json_schema)
            system = f"{system}\n\n{hint}" if system else hint
        else:
            cfg["response_mime_type"] = "application/json"
            key = "response_json_schema" if structured == "json_schema" else "response_schema"
            cfg[key] = request.json_schema if structured == "json_schema" else openapi_schema(request.json_schema)
    if system:
        cfg["system_instruction"] = system
    if request.temperature is not None:
        cfg["temperature"] = request.temperature
    if request.seed is not None:
        cfg["seed"] = request.seed
    if thinking_budget is not None:
        cfg["thinking_config"] = {"thinking_budget": thinking_budget}
    return cfg


def openapi_schema(schema: Any) -> Any:
    """A JSON Schema as the SDK's OpenAPI-subset ``Schema``: ``additionalProperties`` dropped, ``enum`` as strings."""
    if isinstance(schema, list):
        return [openapi_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi_schema(v) for k, v in schema.items() if k != "additionalProperties"}
    if "enum" in out:
        out["enum"] = [str(v) for v in out["enum"]]
        out.setdefault("type", "string")
    return out


def parse_response(resp: Any) -> LLMResponse:
    """A ``GenerateContentResponse`` (typed, as the SDK returns it) -> LLMResponse.

    Output tokens include the thinking tokens (billed as output); thought parts are not in the text.
    """
    usage = getattr(resp, "usage_metadata", None)
    candidates = getattr(resp, "candidates", None) or []
    finish: str | None
    if not candidates:
        feedback = getattr(resp, "prompt_feedback", None)
        if feedback is None or getattr(feedback, "block_reason", None) is None:
            raise TransientError("malformed response: no candidates")
        text, finish = "", "filtered"  # the prompt itself was blocked
    else:
        cand = candidates[0]
        parts = getattr(getattr(cand, "content", None), "parts", None) or []
        text = "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False))
        reason = _word(getattr(cand, "finish_reason", None))
        finish = FINISH.get(reason, reason.lower()) if reason else None
    return LLMResponse(
        text=text,
        input_tokens=_count(usage, "prompt_token_count"),
        output_tokens=_count(usage, "candidates_token_count") + _count(usage, "thoughts_token_count"),
        cached_input_tokens=_count(usage, "cached_content_token_count"),
        finish_reason=finish,
        model=getattr(resp, "model_version", None),
        request_id=getattr(resp, "response_id", None),
    )


def _count(usage: Any, name: str) -> int:
    return int(getattr(usage, name, None) or 0)


def _word(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def translate(exc: BaseException) -> LLMError:
    """An SDK or transport error -> the core's retry classes (never carrying the request's headers)."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        return from_api_error(exc.code, exc.status, exc.message, exc.details, getattr(exc.response, "headers", None))
    if _is_transport(exc):
        kind = "timeout" if "timeout" in type(exc).__name__.lower() else "connection error"
        return TransientError(f"{kind}: {type(exc).__name__}: {exc}")
    return TransientError(f"malformed response: {type(exc).__name__}: {exc}")


def from_api_error(code: int, status: str | None, message: str | None, details: Any, headers: Any) -> LLMError:
    """An error reply (``{"error": {"code", "status", "message", "details"}}``) -> the core's retry class.

    A 429 waits the ``RetryInfo.retryDelay`` the body names (Gemini sends no ``Retry-After``); a 429 for a
    per-day quota is permanent (waiting minutes will not help).
    """
    text = f"HTTP {code} {status or ''}: {message or 'error'}".replace("  ", " ")
    info = details.get("error", details) if isinstance(details, Mapping) else {}
    extra = info.get("details") if isinstance(info, Mapping) else None
    per_day = any("PerDay" in str(v.get("quotaId", "")) for d in extra or [] for v in d.get("violations", []) or [])
    error = from_http_status(code, text, headers, quota_exhausted=per_day)
    if isinstance(error, RateLimited) and error.retry_after is None:
        error.retry_after = retry_delay(extra)
    return error


def retry_delay(details: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "1.5s"``), else None."""
    for detail in details or []:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            m = re.fullmatch(r"\s*([0-9.]+)s\s*", str(detail.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


def item_error(error: Any) -> LLMError:
    """A batch item's ``JobError`` (``code``, ``message``) -> the core's retry class."""
    code = int(getattr(error, "code", None) or 0)
    message = f"batch item failed: {getattr(error, 'message', None) or error}"
    if code == 429:
        return RateLimited(message)
    if code == 0 or code >= 500:
        return TransientError(message, status=code or None)
    return PermanentError(message, status=code)


def _is_transport(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    return any(c.__module__.split(".")[0] in _TRANSPORT_MODULES for c in type(exc).__mro__)

"""A loopback Gemini API for tests: ``generateContent`` and Batch Mode (inline requests) as the ``google-genai``
SDK sends and reads them, on the core's fake vendor (its faults, latency, labelling and counters).

``with FakeGeminiServer() as server: GeminiBackend(**server.backend_options(), ...)``; ``check_backend(
GeminiBackend, server=FakeGeminiServer())`` checks the backend through it. Standard library only.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from dualalign_core.testing import Answer, Ask, FakeLLMServer

_COMPLETION = re.compile(r".*/models/([^/:]+):generateContent")
_BATCH_CREATE = re.compile(r".*/models/([^/:]+):batchGenerateContent")
_BATCH_GET = re.compile(r"/v1[a-z0-9]*/batches/([^/:]+)")
_ids = itertools.count(1)
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
FINISH = {"stop": "STOP", "length": "MAX_TOKENS"}


class FakeGeminiServer(FakeLLMServer):
    """The fake vendor speaking the Gemini API (``/v1beta/models/{model}:generateContent``)."""

    def completion_wire(self, method: str, path: str) -> str | None:
        return "gemini" if method == "POST" and _COMPLETION.fullmatch(path) else None

    def backend_options(self) -> dict[str, Any]:
        return {"base_url": self.url}

    def read_ask(self, wire: str, path: str, req: dict[str, Any]) -> Ask:
        return read_request(req, _model(path))

    def render_reply(self, wire: str, req: dict[str, Any], ask: Ask, answer: Answer) -> dict[str, Any]:
        return render(ask, answer)

    def error_reply(
        self,
        wire: str,
        status: int,
        kind: str,
        message: str,
        retry_after: float | None = None,
        whole_seconds: bool = False,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Google's error body; a 429's wait is a ``RetryInfo`` detail, not a header (as Gemini sends it)."""
        error: dict[str, Any] = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        if retry_after is not None:
            delay = f"{round(retry_after)}s" if whole_seconds else f"{retry_after}s"
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        return {"error": error}, {}

    # -- Batch Mode ---------------------------------------------------------------------------------------
    def _api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        import json

        m = _BATCH_CREATE.fullmatch(path)
        if m and method == "POST":
            batch = json.loads(body)["batch"]
            name = f"batches/{next(_ids)}"
            requests = batch["inputConfig"]["requests"]["requests"]
            self.batches[name] = {"model": m.group(1), "requests": requests, "created": time.time(), "out": None}
            return 200, self._operation(name), {}
        m = _BATCH_GET.fullmatch(path)
        if m and method == "GET" and f"batches/{m.group(1)}" in self.batches:
            return 200, self._operation(f"batches/{m.group(1)}"), {}
        if m or _BATCH_CREATE.fullmatch(path):
            return 404, {"error": {"code": 404, "message": f"no batch {path}", "status": "NOT_FOUND"}}, {}
        return super()._api(method, path, headers, body)

    def _operation(self, name: str) -> dict[str, Any]:
        batch = self.batches[name]
        done = not self.hold_batches
        meta: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "name": name,
            "model": f"models/{batch['model']}",
            "displayName": "dualalign",
            "state": "BATCH_STATE_SUCCEEDED" if done else "BATCH_STATE_RUNNING",
            "createTime": "2026-01-01T00:00:00Z",
        }
        if done:
            if batch["out"] is None:
                out = []
                for item in batch["requests"]:
                    self.counts["batch item"] += 1
                    ask = read_request(item["request"], batch["model"])
                    out.append({"response": render(ask, self.answer(ask, None)), "metadata": item.get("metadata")})
                batch["out"] = out
            meta["output"] = {"inlinedResponses": {"inlinedResponses": batch["out"]}}
        return {"name": name, "metadata": meta, "done": done}


def _model(path: str) -> str:
    m = _COMPLETION.fullmatch(path)
    return m.group(1) if m else "gemini"


def read_request(req: dict[str, Any], model: str) -> Ask:
    """A ``generateContent`` body as an :class:`Ask` (Gemini's ``model`` role is the assistant)."""
    messages = [
        {
            "role": "assistant" if c.get("role") == "model" else "user",
            "content": "".join(p.get("text", "") for p in c.get("parts", [])),
        }
        for c in req.get("contents", [])
    ]
    system = "".join(p.get("text", "") for p in (req.get("systemInstruction") or {}).get("parts", []))
    cfg = req.get("generationConfig") or {}
    schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema")
    return Ask(messages, system, schema, cfg.get("maxOutputTokens") or 8192, model)


def render(ask: Ask, answer: Answer) -> dict[str, Any]:
    """A ``GenerateContentResponse`` body."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": answer.text}]},
                "finishReason": FINISH.get(answer.finish, answer.finish.upper()),
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": answer.input_tokens,
            "candidatesTokenCount": answer.output_tokens,
            "totalTokenCount": answer.input_tokens + answer.output_tokens,
        },
        "modelVersion": ask.model,
        "responseId": f"resp-{next(_ids)}",
    }

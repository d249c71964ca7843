"""A loopback Bedrock Runtime for tests: the Converse API (``POST /model/{modelId}/converse``) as boto3 sends
and reads it, SigV4-signed requests required, on the core's fake vendor (its faults, latency, labelling and
counters). Errors carry ``x-amzn-ErrorType`` as Bedrock's do.

``with FakeBedrockServer() as server: BedrockBackend(**server.backend_options(), ...)`` with
``server.environ()`` set (fake credentials; no AWS config file is read). Standard library only.
"""

from __future__ import annotations

import itertools
import re
import urllib.parse
from typing import Any

from dualalign_core.testing import Answer, Ask, FakeLLMServer

_CONVERSE = re.compile(r"/model/([^/]+)/converse")
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/bedrock/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}"
)
_ids = itertools.count(1)
TEST_ACCESS_KEY = "AKIAFAKESECRET0000001"
TEST_SECRET_KEY = "fake-SECRET-aws-secret-access-key-0001"
REGION = "us-east-1"
CODES = {
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
    400: "ValidationException",
    403: "UnrecognizedClientException",
    404: "ResourceNotFoundException",
}
STOP = {"stop": "end_turn", "length": "max_tokens"}


class FakeBedrockServer(FakeLLMServer):
    """The fake vendor speaking Bedrock Runtime's Converse API."""

    regions: list[str]

    def completion_wire(self, method: str, path: str) -> str | None:
        return "bedrock" if method == "POST" and _CONVERSE.fullmatch(path) else None

    def backend_options(self) -> dict[str, Any]:
        return {"base_url": self.url, "region": REGION}

    def environ(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
            "AWS_CONFIG_FILE": "/nonexistent/dualalign-test-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/dualalign-test-aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def authorize(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Only SigV4-signed requests (``Authorization: AWS4-HMAC-SHA256 ...`` and ``X-Amz-Date``) are served."""
        m = _SIGV4.fullmatch(headers.get("authorization", ""))
        if m and headers.get("x-amz-date"):
            self.__dict__.setdefault("regions", []).append(m.group("region"))
            return None
        body, extra = self.error_reply("bedrock", 403, "auth", "Missing Authentication Token")
        return 403, body, extra

    def read_ask(self, wire: str, path: str, req: dict[str, Any]) -> Ask:
        messages = [
            {"role": m["role"], "content": "".join(b.get("text", "") for b in m.get("content", []))}
            for m in req.get("messages", [])
        ]
        system = "".join(b.get("text", "") for b in req.get("system") or [])
        tools = (req.get("toolConfig") or {}).get("tools") or []
        schema = tools[0]["toolSpec"]["inputSchema"]["json"] if tools else None
        max_tokens = (req.get("inferenceConfig") or {}).get("maxTokens") or 4096
        m = _CONVERSE.fullmatch(path)
        return Ask(messages, system, schema, max_tokens, urllib.parse.unquote(m.group(1)) if m else "")

    def render_reply(self, wire: str, req: dict[str, Any], ask: Ask, answer: Answer) -> dict[str, Any]:
        tools = (req.get("toolConfig") or {}).get("tools") or []
        if answer.data is not None and tools:
            use = {"toolUseId": f"tooluse_{next(_ids)}", "name": tools[0]["toolSpec"]["name"], "input": answer.data}
            content: list[dict[str, Any]] = [{"toolUse": use}]
            stop = "tool_use"
        else:
            content = [{"text": answer.text}]
            stop = STOP.get(answer.finish, answer.finish)
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {
                "inputTokens": answer.input_tokens,
                "outputTokens": answer.output_tokens,
                "totalTokens": answer.input_tokens + answer.output_tokens,
            },
            "metrics": {"latencyMs": 1},
        }

    def error_reply(
        self,
        wire: str,
        status: int,
        kind: str,
        message: str,
        retry_after: float | None = None,
        whole_seconds: bool = False,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Bedrock's error: ``{"message"}`` and the code in ``x-amzn-ErrorType`` (no ``Retry-After``)."""
        code = CODES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
        return {"message": message}, {
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        }

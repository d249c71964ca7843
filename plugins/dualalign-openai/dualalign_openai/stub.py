"""A loopback Azure OpenAI resource for tests: ``/openai/deployments/{deployment}/chat/completions``, files and
batches under ``/openai/``, ``api-version`` on every request, the ``api-key`` header or an Entra ``Bearer``
token required; on the core's fake vendor (its faults, latency, labelling and counters).

``with FakeAzureOpenAIServer() as server: OpenAIBackend(**server.backend_options(), ...)``. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

from dualalign_core.testing import FakeLLMServer

_CHAT = re.compile(r"/openai/deployments/([^/]+)/chat/completions")
DEPLOYMENT = "notes-gpt4o"


class FakeAzureOpenAIServer(FakeLLMServer):
    """The fake vendor as an Azure OpenAI resource (the OpenAI wire under Azure's paths and auth)."""

    def completion_wire(self, method: str, path: str) -> str | None:
        return "openai" if method == "POST" and _CHAT.fullmatch(path) else None

    def backend_options(self) -> dict[str, Any]:
        return {"azure_endpoint": self.url, "azure_deployment": DEPLOYMENT, "api_key_env": "AZURE_OPENAI_API_KEY"}

    def authorize(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Azure's two schemes: ``api-key: KEY`` or ``Authorization: Bearer TOKEN`` (Entra ID)."""
        if headers.get("api-key") or headers.get("authorization", "").startswith("Bearer "):
            return None
        error = {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}
        return 401, {"error": error}, {}

    @property
    def deployments(self) -> list[str]:
        """The deployment of each completion request, in order."""
        return [m.group(1) for path, _ in self.bodies if (m := _CHAT.fullmatch(path))]

    def _api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        # Azure's files and batches are OpenAI's under /openai/ instead of /v1/
        return super()._api(method, re.sub(r"^/openai/(files|batches)", r"/v1/\1", path), headers, body)

"""The three vendors that speak their own wire (Gemini, Bedrock, Azure OpenAI), each with its plugin's loopback
stub: how a test points a backend at it, the secrets it must never write, the price it must charge."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from attrs import frozen
from fakeserver import NOTE, RULES

from dualalign_core.plugins import get_registry
from dualalign_core.testing import FakeLLMServer


@frozen
class Vendor:
    """One vendor under test: ``backend`` is the registered name, ``key_env`` its secret variable (or none)."""

    id: str
    backend: str
    model: str
    stub: str  # module:Class of the plugin's stub
    key_env: str = ""
    secret: str = ""
    extra_secrets: tuple[str, ...] = ()
    sdk: str = ""

    def server(self, **kwargs: Any) -> FakeLLMServer:
        """The plugin's stub with the tests' vocabulary (memory words label cognitive_impairment ...)."""
        module, name = self.stub.split(":")
        cls: Callable[..., FakeLLMServer] = getattr(importlib.import_module(module), name)
        kwargs.setdefault("label_rules", RULES)
        kwargs.setdefault("note_text", NOTE)
        return cls(**kwargs)

    def env(self, server: FakeLLMServer) -> dict[str, str]:
        """The environment a run against ``server`` needs: its credentials and the key."""
        return {**server.environ(), **({self.key_env: self.secret} if self.key_env else {})}

    def secrets(self, server: FakeLLMServer) -> list[str]:
        env = self.env(server)
        return [s for s in (self.secret, *self.extra_secrets, env.get("AWS_SECRET_ACCESS_KEY", "")) if s]


VENDORS = {
    "gemini": Vendor(
        "gemini",
        "gemini",
        "gemini-2.5-flash",
        "dualalign_gemini.stub:FakeGeminiServer",
        "GEMINI_API_KEY",
        "AIza-test-SECRET-gemini-71c2",
        sdk="google.genai",
    ),
    "bedrock": Vendor(
        "bedrock",
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "dualalign_bedrock.stub:FakeBedrockServer",
        extra_secrets=("AKIAFAKESECRET0000001",),
        sdk="boto3",
    ),
    "azure": Vendor(
        "azure",
        "openai",
        "gpt-4o",
        "dualalign_openai.stub:FakeAzureOpenAIServer",
        "AZURE_OPENAI_API_KEY",
        "az-test-SECRET-azure-9e1b",
        sdk="openai",
    ),
}


def available(vendor: Vendor) -> bool:
    """The vendor's plugin is installed (entry point) and its SDK importable."""
    try:
        importlib.import_module(vendor.sdk)
    except ImportError:
        return False
    return vendor.backend in get_registry().names("llm_backend")


def vendor_params() -> list[Any]:
    return [
        pytest.param(v, id=v.id, marks=pytest.mark.skipif(not available(v), reason=f"{v.backend} plugin not installed"))
        for v in VENDORS.values()
    ]

"""DualAlign plugin: the ``anthropic`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_anthropic.backend import AnthropicBackend
from dualalign_core.api import hookimpl

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

__all__ = ["AnthropicBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the Anthropic Messages backend."""
    register("anthropic", AnthropicBackend)

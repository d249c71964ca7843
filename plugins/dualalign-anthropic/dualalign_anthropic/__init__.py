"""DualAlign plugin: the ``anthropic`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_anthropic.backend import AnthropicBackend
from dualalign_core.hookspecs import hookimpl

__all__ = ["AnthropicBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the Anthropic Messages backend."""
    register("anthropic", AnthropicBackend)

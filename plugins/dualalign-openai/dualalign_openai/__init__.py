"""DualAlign plugin: the ``openai`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_core.api import hookimpl
from dualalign_openai.backend import OpenAIBackend

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

__all__ = ["OpenAIBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the OpenAI Chat Completions backend."""
    register("openai", OpenAIBackend)

"""DualAlign plugin: the ``openai`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_core.hookspecs import hookimpl
from dualalign_openai.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the OpenAI Chat Completions backend."""
    register("openai", OpenAIBackend)

"""DualAlign plugin: the ``gemini`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_core.api import hookimpl
from dualalign_gemini.backend import GeminiBackend

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

__all__ = ["GeminiBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the Gemini backend."""
    register("gemini", GeminiBackend)

"""DualAlign plugin: the ``bedrock`` LLM backend (generator and annotator through the core's runtime)."""

from dualalign_bedrock.backend import BedrockBackend
from dualalign_core.api import hookimpl

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

__all__ = ["BedrockBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the Amazon Bedrock Converse backend."""
    register("bedrock", BedrockBackend)

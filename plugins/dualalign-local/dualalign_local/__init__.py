"""DualAlign plugin: the ``local`` LLM backend, a small instruct model run in-process (offline default)."""

from dualalign_core.api import hookimpl
from dualalign_local.backend import LocalBackend

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports

__all__ = ["LocalBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the in-process backend (transformers, or vLLM with ``engine = "vllm"``)."""
    register("local", LocalBackend)

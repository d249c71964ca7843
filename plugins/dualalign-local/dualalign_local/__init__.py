"""DualAlign plugin: the ``local`` LLM backend, a small instruct model run in-process (offline default)."""

from dualalign_core.hookspecs import hookimpl
from dualalign_local.backend import LocalBackend

__all__ = ["LocalBackend"]


@hookimpl
def register_llm_backends(register):
    """Register the in-process transformers backend."""
    register("local", LocalBackend)

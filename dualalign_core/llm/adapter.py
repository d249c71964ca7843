"""What the LLM generator and annotator share: a backend, its runtime, and the backend's identity."""

from __future__ import annotations

from typing import Any

from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.runtime import LLMRuntime


class BackendBound:
    """Mixin: a component driven by an :class:`LLMBackend`; it takes the backend's name and plugin for
    provenance, and its concurrency (the runtime's limit) for the pipeline's semaphore."""

    backend: LLMBackend
    runtime: LLMRuntime

    def _bind(self, backend: LLMBackend) -> None:
        self.backend = backend
        self.runtime = LLMRuntime(backend)
        self.name = backend.name  # type: ignore[misc]
        self.plugin = backend.plugin  # type: ignore[misc]
        self.plugin_version = backend.plugin_version  # type: ignore[misc]
        self.concurrency = self.runtime.settings.concurrency  # type: ignore[misc]
        if self.runtime.batcher is not None:  # let the pipeline keep enough requests in flight to pool
            self.concurrency = max(self.concurrency, self.runtime.settings.batch_size)  # type: ignore[misc]

    @property
    def model(self) -> str | None:
        return self.backend.model_name

    def preflight(self) -> None:
        """The backend's checks before any work (its API key)."""
        self.backend.preflight()

    def option(self, name: str, default: Any) -> Any:
        return self.backend.options.get(name, default)

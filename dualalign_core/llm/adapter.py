"""What the LLM generator and annotator share: a backend, its runtime, and the backend's identity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dualalign_core.llm.backend import RUNTIME_DEFAULTS, LLMBackend
from dualalign_core.llm.runtime import LLMRuntime, RuntimeStats

if TYPE_CHECKING:
    from dualalign_core.context import RunContext


class BackendBound:
    """Mixin: a component driven by an :class:`LLMBackend`; it takes the backend's name and plugin for
    provenance, and its concurrency (the runtime's limit) for the pipeline's semaphore.

    ``concurrency`` is one knob: setting it (``[generator] concurrency = N`` does, when the component is
    built) sets the runtime's limiter and the size of the backend's client pool, not only the pipeline's view.
    """

    backend: LLMBackend
    runtime: LLMRuntime

    def _bind(self, backend: LLMBackend) -> None:
        self.backend = backend
        self.runtime = LLMRuntime(backend)
        self.name, self.plugin, self.plugin_version = backend.name, backend.plugin, backend.plugin_version

    @property  # type: ignore[override]
    def concurrency(self) -> int:
        """Requests this component keeps in flight (a batching runtime pools at least ``batch_size``)."""
        limit = self.runtime.settings.concurrency
        if self.runtime.batcher is not None:  # let the pipeline keep enough requests in flight to pool
            return max(limit, self.runtime.settings.batch_size)
        return limit

    @concurrency.setter
    def concurrency(self, value: int) -> None:
        self.runtime.set_concurrency(int(value))

    @property
    def model(self) -> str | None:
        return self.backend.model_name

    def preflight(self) -> None:
        """The backend's checks before any work (its API key)."""
        self.backend.preflight()

    async def open(self, ctx: RunContext) -> None:
        """Open the backend (a local backend loads its engine here, once per process)."""
        opener = getattr(self.backend, "open", None)
        if callable(opener):
            await opener(ctx)

    async def aclose(self) -> None:
        """Close the backend's clients (its connection pools)."""
        await self.runtime.aclose()

    def stats(self) -> RuntimeStats:
        """What the runtime did so far (requests, retries, 429s, re-asks, cache hits, tokens)."""
        return self.runtime.stats()

    def option(self, name: str, default: Any = None) -> Any:
        """The backend's option ``name``: its value or schema default, else the runtime schema's default (a
        backend with a schema of its own), else ``default`` (only for a role's dynamic default)."""
        return self.backend.options.get(name, RUNTIME_DEFAULTS.get(name, default))


def stats_by_role(**components: Any) -> dict[str, dict[str, Any]]:
    """``{"generator": {...}, "annotator": {...}}``: the runtime stats of each LLM-driven component given by
    role, as plain data for the manifest and the report; components without a runtime are left out."""
    return {role: c.stats().as_dict() for role, c in components.items() if isinstance(c, BackendBound)}

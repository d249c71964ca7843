"""What components see of the run: ids, seed, disease pack, the response cache and running totals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import define, field

from dualalign_core.records import Provenance, Usage

if TYPE_CHECKING:
    from dualalign_core.disease import DiseasePack
    from dualalign_core.store import RunStore


@define
class RunContext:
    """Shared, read-mostly state of one run. The LLM runtime caches through ``cache_get``/``cache_put``."""

    run_id: str
    seed: int
    disease: DiseasePack
    store: RunStore | None = None
    options: dict[str, Any] = field(factory=dict)
    usage: Usage = field(factory=Usage)
    _memory_cache: dict[str, dict[str, Any]] = field(factory=dict, alias="_memory_cache")

    def provenance(self, component: Any, seed: int, *, model: str | None = None,
                   prompt_hash: str | None = None) -> Provenance:
        """Provenance for a record made by ``component`` (a registered component instance or class)."""
        return Provenance(
            run_id=self.run_id, seed=seed, component=f"{_kind(component)}:{component.name}",
            plugin=component.plugin or "unknown", plugin_version=component.plugin_version or "unknown",
            model=model, prompt_hash=prompt_hash,
        )

    def cache_get(self, key: str) -> dict[str, Any] | None:
        if self.store is not None:
            return self.store.cache_get(key)
        return self._memory_cache.get(key)

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.cache_put(key, value)
        else:
            self._memory_cache[key] = value

    def add_usage(self, usage: Usage) -> None:
        self.usage = self.usage + usage


def _kind(component: Any) -> str:
    from dualalign_core.components import COMPONENT_KINDS

    cls = component if isinstance(component, type) else type(component)
    for kind, base in COMPONENT_KINDS.items():
        if base is not COMPONENT_KINDS["llm_backend"] and issubclass(cls, base):
            return kind
    return "component"

"""What components see of the run: ids, seed, disease pack, the response cache and running totals.

Paid replies and who pays for them
----------------------------------
A reply is written to the cache the moment it arrives (so a crash never throws away paid work), together
with the unit of work that paid for it (its *owner*, set by :meth:`RunContext.unit_scope`). The owner
records the reply's original usage and cost whenever it reads it back, once per execution of that unit:
a unit re-done after a crash or a failure therefore records exactly what the uninterrupted run would
(``cached=false``, the original ``cost_usd``), while any other unit that hits the same entry gets it free
(``cached=true``, cost 0). Every paid call is also appended to a spend ledger at once, so budgets on resume
count money spent by units that never committed.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from attrs import define, field, frozen

from dualalign_core.records import Provenance, Usage

if TYPE_CHECKING:
    from dualalign_core.disease import DiseasePack
    from dualalign_core.llm.budget import Budget
    from dualalign_core.run.store import RunStore

# Test-only fault hook (documented in tests/llm/test_kill_resume.py): SIGKILL this process right after the
# N-th cache write has committed, i.e. exactly between a paid reply reaching the cache and its unit's commit.
KILL_AFTER_CACHE_PUT_ENV = "DUALALIGN_TEST_KILL_AFTER_CACHE_PUT"


@define
class UnitScope:
    """The unit of work now running (in this asyncio task) and the cache keys it has billed so far."""

    unit_id: str
    billed: set[str] = field(factory=set)


_UNIT: ContextVar[UnitScope | None] = ContextVar("dualalign_unit", default=None)


@define
class CacheHit:
    """A cached reply; ``billable`` when the running unit paid for it and has not recorded it yet."""

    value: dict[str, Any]
    billable: bool = False


@define
class MemoryCache:
    """The response cache of a run without a store (tests, ``estimate``): key -> (value, owner)."""

    entries: dict[str, tuple[dict[str, Any], str | None]] = field(factory=dict)
    puts: int = 0
    spend: list[tuple[Usage, str | None, str | None]] = field(factory=list)  # (usage, key, unit) of paid calls


@frozen
class RunContext:
    """What components see of one run, read-only: ids, seed, disease pack, the store's response cache and
    the run's cost budget (``None``: unlimited). The LLM runtime caches through ``cache_lookup``/``cache_put``
    and records paid calls through ``record_spend``; running totals live with the coordinator, not here."""

    run_id: str
    seed: int
    disease: DiseasePack
    store: RunStore | None = None
    budget: Budget | None = None
    memory: MemoryCache = field(factory=MemoryCache, repr=False)

    def provenance(
        self, component: Any, seed: int, *, model: str | None = None, prompt_hash: str | None = None
    ) -> Provenance:
        """Provenance for a record made by ``component`` (a registered component instance or class)."""
        return Provenance(
            run_id=self.run_id,
            seed=seed,
            component=f"{getattr(component, 'kind', 'component')}:{component.name}",
            plugin=component.plugin or "unknown",
            plugin_version=component.plugin_version or "unknown",
            model=model,
            prompt_hash=prompt_hash,
        )

    @staticmethod
    @contextlib.contextmanager
    def unit_scope(unit_id: str) -> Iterator[UnitScope]:
        """Mark the code inside as working for unit ``unit_id`` (it owns and bills the replies it fetches)."""
        token = _UNIT.set(UnitScope(unit_id))
        try:
            yield _UNIT.get()  # type: ignore[misc]
        finally:
            _UNIT.reset(token)

    def cache_lookup(self, key: str) -> CacheHit | None:
        """A cached value and whether the running unit must record its original cost (see module doc)."""
        found = self.store.cache_get_owned(key) if self.store is not None else self.memory.entries.get(key)
        if found is None:
            return None
        value, owner = found
        scope = _UNIT.get()
        billable = scope is not None and owner == scope.unit_id and key not in scope.billed
        if billable:
            scope.billed.add(key)  # type: ignore[union-attr]
        return CacheHit(value, billable)

    def cache_get(self, key: str) -> dict[str, Any] | None:
        hit = self.cache_lookup(key)
        return hit.value if hit is not None else None

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        """Store a reply (committed at once), owned by the running unit, which has now billed it."""
        scope = _UNIT.get()
        owner = scope.unit_id if scope is not None else None
        if scope is not None:
            scope.billed.add(key)
        if self.store is not None:
            self.store.cache_put(key, value, owner=owner)
        else:
            self.memory.entries[key] = (value, owner)
        self.memory.puts += 1
        kill_at = os.environ.get(KILL_AFTER_CACHE_PUT_ENV)
        if kill_at and self.memory.puts == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)

    def record_spend(self, usage: Usage, key: str | None = None) -> None:
        """Append a paid call to the run's spend ledger (committed at once, before its unit commits)."""
        scope = _UNIT.get()
        unit = scope.unit_id if scope is not None else None
        if self.store is not None:
            self.store.record_spend(usage, key=key, unit=unit)
        else:  # a worker without the store: its unit carries the call to the driver (see run/worker.py)
            self.memory.spend.append((usage, key, unit))

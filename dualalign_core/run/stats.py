"""A run's running totals: notes done, accepted, rejected and failed, and what they cost."""

from __future__ import annotations

from attrs import define, field

from dualalign_core.records import Usage
from dualalign_core.run.store import RunStore

UNIT_STATUSES = ("accepted", "rejected", "failed")  # what a stored unit can be (each a counter below)


@define
class Stats:
    """Running totals for the progress display and the budget check, kept per unit so that a re-done unit
    (a failed one retried, a cohort refill) replaces what its earlier result counted."""

    total: int = 0
    done: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    usage: Usage = field(factory=Usage)
    units: dict[str, tuple[str, Usage]] = field(factory=dict, repr=False)

    @classmethod
    def of(cls, store: RunStore, total: int) -> Stats:
        st = cls(total=total)
        for plan_id, (status, usage) in store.unit_outcomes().items():
            st.count(plan_id, status, usage)
        return st

    def count(self, plan_id: str, status: str, usage: Usage) -> None:
        """Count a unit's outcome, replacing its earlier one (the stored unit a refill or retry replaces)."""
        if plan_id in self.units:
            self._add(*self.units[plan_id], sign=-1)
        self._add(status, usage, sign=1)
        self.units[plan_id] = (status, usage)
        self.done = len(self.units)

    def _add(self, status: str, usage: Usage, sign: int) -> None:
        setattr(self, status, getattr(self, status) + sign)
        u = self.usage
        self.usage = Usage(
            u.input_tokens + sign * usage.input_tokens,
            u.output_tokens + sign * usage.output_tokens,
            round(u.cost_usd + sign * usage.cost_usd, 10),
        )


__all__ = ["Stats"]

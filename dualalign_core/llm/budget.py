"""The run-wide spending cap every LLM runtime of a run shares (``RunContext.budget``)."""

from __future__ import annotations

from typing import Any

from dualalign_core.errors import RunFailed
from dualalign_core.llm.pricing import usd


class BudgetReached(RunFailed):
    """The next call could cross ``--max-cost``: the run stops cleanly before spending it."""


class Budget:
    """A run-wide spending cap shared by every runtime of the run (``RunContext.budget``)."""

    def __init__(self, limit_usd: float, spent_usd: float = 0.0):
        self.limit = limit_usd
        self.spent = spent_usd
        self.reserved = 0.0

    def reserve(self, worst_case: float) -> None:
        if self.spent + self.reserved + worst_case > self.limit:
            raise BudgetReached(
                f"cost budget of {usd(self.limit)} would be crossed by the next LLM call "
                f"(spent {usd(self.spent)}, in flight {usd(self.reserved)}); stopped before it"
            )
        self.reserved += worst_case

    def settle(self, worst_case: float, actual: float) -> None:
        self.reserved = max(0.0, self.reserved - worst_case)
        self.spent += actual

    @staticmethod
    def of(ctx: Any) -> Budget | None:  # a RunContext, or None (the context module sits above this one)
        return ctx.budget if ctx is not None else None


__all__ = ["Budget", "BudgetReached"]

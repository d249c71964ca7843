"""The one retry policy of every LLM call (completions and batch control calls alike).

Retried: :class:`RateLimited` and :class:`TransientError`, up to ``max_attempts`` attempts in all. The wait
is exponential from ``backoff_initial`` to ``backoff_max`` plus up to ``backoff_initial`` of jitter; a 429
that says ``Retry-After`` waits that long plus a little jitter instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from dualalign_core.llm.faults import RateLimited, TransientError

if TYPE_CHECKING:
    from dualalign_core.llm.settings import RuntimeSettings

RETRIED = (RateLimited, TransientError)


def backoff(settings: RuntimeSettings) -> Callable[[RetryCallState], float]:
    """Seconds to wait before the next attempt, given the state of the last one."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after + random.uniform(0, min(1.0, 0.1 * exc.retry_after + 0.01))
        delay = min(settings.backoff_max, settings.backoff_initial * 2 ** (state.attempt_number - 1))
        return delay + random.uniform(0, settings.backoff_initial)

    return wait


def retrying(settings: RuntimeSettings, on_retry: Callable[[], None] | None = None) -> AsyncRetrying:
    """A fresh tenacity loop for one call: ``async for attempt in retrying(s): with attempt: ...``.

    The last error is re-raised as itself; ``on_retry`` runs before each wait (to count retries).
    """
    return AsyncRetrying(
        stop=stop_after_attempt(settings.max_attempts),
        wait=backoff(settings),
        retry=retry_if_exception_type(RETRIED),
        reraise=True,
        before_sleep=(lambda _state: on_retry()) if on_retry is not None else None,
    )

"""Client-side flow control: an AIMD concurrency limiter, token buckets (RPM/TPM) and an error-rate breaker."""

from __future__ import annotations

import asyncio
import collections
import time


class AdaptiveLimiter:
    """At most ``limit`` requests in flight. A 429 halves the limit (at most once per ``cooldown`` s) and
    pauses new requests until ``Retry-After`` has passed; each success adds ``1/limit`` (about +1 per
    round trip) until ``max_limit`` again: additive increase, multiplicative decrease."""

    def __init__(self, max_limit: int, *, min_limit: int = 1, cooldown: float = 1.0):
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.limit = float(self.max_limit)
        self.cooldown = cooldown
        self.in_flight = 0
        self.resume_at = 0.0
        self.cuts = 0
        self._last_cut = -1e9
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _capacity(self) -> int:
        return max(self.min_limit, int(self.limit))

    async def acquire(self) -> None:
        while True:
            pause = self.resume_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
                continue
            if self.in_flight < self._capacity() and not self._waiters:
                self.in_flight += 1
                return
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if not fut.cancelled() and fut.done():
                    self._wake()  # pass on a wake-up we will not use
                raise
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
            if self.in_flight < self._capacity():
                self.in_flight += 1
                self._wake()
                return

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self._capacity():
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self._wake()

    def on_rate_limited(self, retry_after: float | None) -> None:
        now = time.monotonic()
        if retry_after:
            self.resume_at = max(self.resume_at, now + retry_after)
        if now - self._last_cut >= self.cooldown:
            self._last_cut = now
            self.limit = max(float(self.min_limit), self.limit / 2.0)
            self.cuts += 1


class TokenBucket:
    """``rate`` units per minute with a burst of one minute's worth; ``acquire(n)`` waits for ``n`` units
    (a request larger than the bucket waits for a full bucket and then goes)."""

    def __init__(self, per_minute: float):
        self.capacity = float(per_minute)
        self.rate = float(per_minute) / 60.0
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, n: float = 1.0) -> None:
        n = min(float(n), self.capacity)
        async with self._lock:
            self._refill()
            while self.tokens < n:
                await asyncio.sleep((n - self.tokens) / self.rate)
                self._refill()
            self.tokens -= n


class ErrorBreaker:
    """Trips when at least ``threshold`` of the last ``window`` attempts failed (429s do not count: they
    are throttling, not errors)."""

    def __init__(self, window: int = 50, threshold: float = 0.5):
        self.window = window
        self.threshold = threshold
        self.outcomes: collections.deque[bool] = collections.deque(maxlen=window)
        self.last_error: str | None = None
        self.tripped = False

    def record(self, ok: bool, error: str | None = None) -> bool:
        """Record one attempt; returns True when the breaker is (now) tripped."""
        self.outcomes.append(ok)
        if not ok:
            self.last_error = error
        if len(self.outcomes) == self.window and self.error_rate >= self.threshold:
            self.tripped = True
        return self.tripped

    @property
    def error_rate(self) -> float:
        return self.outcomes.count(False) / len(self.outcomes) if self.outcomes else 0.0

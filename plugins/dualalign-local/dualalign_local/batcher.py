"""A micro-batcher: concurrent async calls are queued and run as one batch in a worker thread.

The first call of a quiet period waits ``wait_s`` for others to join (or until ``size`` are queued); the
batch then runs in ``asyncio.to_thread`` so the event loop stays free, and whatever queued meanwhile forms
the next batch. One batch runs at a time (the model is the bottleneck).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Runs ``run(items) -> results`` (same order, same length) over batches of at most ``size`` items."""

    def __init__(self, run: Callable[[Sequence[T]], Sequence[R]], size: int = 8, wait_s: float = 0.05):
        self.run = run
        self.size = max(1, size)
        self.wait_s = wait_s
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, fut))
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._full = asyncio.Event()
            self._worker = loop.create_task(self._drain())
        if len(self._pending) >= self.size:
            self._full.set()
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            if len(self._pending) < self.size:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.wait_s)
            self._full.clear()
            batch, self._pending = self._pending[: self.size], self._pending[self.size :]
            batch = [(item, fut) for item, fut in batch if not fut.cancelled()]
            if not batch:
                continue
            try:
                results = await asyncio.to_thread(self.run, [item for item, _ in batch])
            except Exception as exc:  # every caller of the batch sees the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

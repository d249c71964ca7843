"""Batch submission (OpenAI Batch API, Anthropic Message Batches) behind the same ``complete`` call.

Requests pool until ``batch_size`` or ``batch_flush_s`` of quiet, go out as one batch, and resolve when
the batch ends. Each request's batch id is written to the run cache at submission, so a restarted run
waits for (and collects) the batches it already paid for instead of submitting them again.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Protocol

from dualalign_core.llm.backend import BatchItem
from dualalign_core.llm.faults import LLMCallFailed, LLMError
from dualalign_core.llm.retry import retrying
from dualalign_core.llm.types import LLMRequest, LLMResponse

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.llm.backend import LLMBackend
    from dualalign_core.llm.settings import RuntimeSettings


class BatchHost(Protocol):
    """What a :class:`Batcher` uses of the runtime that owns it (the runtime sits above this module)."""

    backend: LLMBackend
    settings: RuntimeSettings
    counters: Any

    def _count_retry(self) -> None: ...


PREFIX = "batch-item:"


class Batcher:
    """Pools one runtime's requests into vendor batches."""

    def __init__(self, runtime: BatchHost):
        self.runtime = runtime
        self.backend = runtime.backend
        self.settings = runtime.settings
        self._pending: dict[str, tuple[LLMRequest, list[asyncio.Future[LLMResponse]]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._collectors: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def call(self, key: str, request: LLMRequest, ctx: RunContext | None) -> LLMResponse:
        record = ctx.cache_get(PREFIX + key) if ctx is not None else None
        if record and record.get("state") == "submitted":
            return await self._result(record["batch_id"], key, ctx)
        fut: asyncio.Future[LLMResponse] = asyncio.get_running_loop().create_future()
        if key in self._pending:
            self._pending[key][1].append(fut)
        else:
            self._pending[key] = (request, [fut])
        if len(self._pending) >= self.settings.batch_size:
            self._flush(ctx)
        else:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(self.settings.batch_flush_s, self._flush, ctx)
        return await fut

    def _flush(self, ctx: RunContext | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, {}
        if pending:
            task = asyncio.ensure_future(self._submit(pending, ctx))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _retrying(self, fn: Any, *args: Any) -> Any:
        async for attempt in retrying(self.settings, self.runtime._count_retry):
            with attempt:
                self.runtime.counters.requests += 1
                return await fn(*args)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _submit(
        self, pending: dict[str, tuple[LLMRequest, list[asyncio.Future[LLMResponse]]]], ctx: RunContext | None
    ) -> None:
        items = [BatchItem(key, request) for key, (request, _) in pending.items()]
        try:
            batch_id = await self._retrying(self.backend.submit_batch, items)
        except Exception as exc:  # every waiter learns why
            error = LLMCallFailed(f"batch submission failed: {type(exc).__name__}: {exc}")
            for _, futs in pending.values():
                for fut in futs:
                    if not fut.done():
                        fut.set_exception(error)
            return
        self.runtime.counters.batches += 1
        if ctx is not None:
            for key in pending:
                ctx.cache_put(PREFIX + key, {"batch_id": batch_id, "state": "submitted"})
        for key, (_, futs) in pending.items():
            task = asyncio.ensure_future(self._result(batch_id, key, ctx))
            task.add_done_callback(functools.partial(_relay, futs=futs))

    async def _result(self, batch_id: str, key: str, ctx: RunContext | None) -> LLMResponse:
        if batch_id not in self._collectors:
            self._collectors[batch_id] = asyncio.ensure_future(self._collect(batch_id))
        results = await asyncio.shield(self._collectors[batch_id])
        if "__error__" in results:
            raise LLMCallFailed(f"batch {batch_id} failed: {results['__error__']}")
        item = results.get(key)
        if isinstance(item, LLMResponse):
            return item
        if ctx is not None:  # a restart submits this request afresh
            ctx.cache_put(PREFIX + key, {"batch_id": batch_id, "state": "failed"})
        if item is None:
            raise LLMCallFailed(f"request missing from the results of batch {batch_id}")
        reason = f"{type(item).__name__}: {item}" if isinstance(item, LLMError) else str(item)
        raise LLMCallFailed(f"batch {batch_id} item failed: {reason}")

    async def _collect(self, batch_id: str) -> dict[str, Any]:
        while True:
            status = await self._retrying(self.backend.poll_batch, batch_id)
            if status.state == "ended":
                return dict(await self._retrying(self.backend.collect_batch, batch_id))
            if status.state == "failed":
                return {"__error__": status.detail}
            await asyncio.sleep(self.settings.batch_poll_s)


def _relay(task: asyncio.Task[LLMResponse], futs: list[asyncio.Future[LLMResponse]]) -> None:
    for fut in futs:
        if fut.done():
            continue
        if task.cancelled():
            fut.cancel()
        elif task.exception() is not None:
            fut.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            fut.set_result(task.result())

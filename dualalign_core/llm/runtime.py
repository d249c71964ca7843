"""The runtime every backend shares: response cache, bounded adaptive concurrency, RPM/TPM limits,
retries with backoff and jitter, an error-rate breaker, structured-output validation with one corrective
re-ask, batch submission, a cost budget, and token/cost accounting.

Cache keys are sha256 of (provider, model, messages, parameters, schema); API keys are never part of a
request, a key or a cached value.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import jsonschema
from attrs import define, field, frozen

from dualalign_core.errors import RunFailed
from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.batch import Batcher
from dualalign_core.llm.budget import Budget, BudgetReached
from dualalign_core.llm.faults import (
    LLMCallFailed,
    LLMError,
    LLMOutputError,
    PermanentError,
    RateLimited,
    TransientError,
)
from dualalign_core.llm.pricing import FREE, Price, price_for
from dualalign_core.llm.retry import retrying
from dualalign_core.llm.settings import RuntimeSettings
from dualalign_core.llm.throttle import AdaptiveLimiter, ErrorBreaker, TokenBucket
from dualalign_core.llm.types import LLMRequest, LLMResponse, Message
from dualalign_core.records import Usage, canonical_json

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from dualalign_core.context import CacheHit, RunContext

CACHE_VERSION = 1


class BreakerTripped(RunFailed):
    """The backend's error rate stayed above the threshold: the run stops cleanly and can be resumed."""


@define
class RuntimeCounters:
    """What the runtime did so far (mutable, one event loop); ``requests`` counts attempts that reached the
    backend. :meth:`LLMRuntime.stats` gives a frozen copy."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    rate_limited: int = 0
    reasks: int = 0
    failures: dict[str, int] = field(factory=dict)
    spent_usd: float = 0.0
    batches: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


@frozen
class RuntimeStats:
    """A runtime's totals, ready for the manifest and the report (:meth:`as_dict`).

    ``requests``: attempts that reached the backend (retries and re-asks included); ``retries``: attempts
    repeated after a 429 or a transient error; ``rate_limited``: 429s; ``reasks``: corrective re-asks for an
    invalid structured reply; ``cache_hits``: replies served from the run's cache; ``failures``: calls that
    failed for good, by reason; tokens and cost are what the backend billed (cache hits excluded).
    """

    provider: str
    model: str
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    reasks: int = 0
    cache_hits: int = 0
    batches: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    failures: dict[str, int] = field(factory=dict, hash=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (failures sorted by reason)."""
        out = attrs.asdict(self)
        out["failures"] = dict(sorted(self.failures.items()))
        return out


@frozen
class LLMResult:
    """A response and its cost; ``cached`` when it came from the run's cache (and cost nothing now)."""

    response: LLMResponse
    usage: Usage
    cached: bool = False


@frozen
class JSONResult:
    """A validated structured reply."""

    data: Any
    response: LLMResponse
    usage: Usage
    cached: bool = False


def request_key(request: LLMRequest, provider: str = "") -> str:
    """sha256 of everything that determines a reply (never credentials or endpoints)."""
    doc = {
        "v": CACHE_VERSION,
        "provider": provider,
        "model": request.model,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "schema": request.json_schema,
    }
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


class LLMRuntime:
    """One backend's runtime. Async-safe within one event loop."""

    def __init__(self, backend: LLMBackend, settings: RuntimeSettings | None = None):
        self.backend = backend
        self.settings = settings or RuntimeSettings.from_options(backend.options, backend.concurrency)
        s = self.settings
        self.limiter = AdaptiveLimiter(s.concurrency)
        self.rpm = TokenBucket(s.rpm) if s.rpm else None
        self.tpm = TokenBucket(s.tpm) if s.tpm else None
        self.breaker = ErrorBreaker(s.breaker_window, s.breaker_threshold)
        self.counters = RuntimeCounters()
        free = bool(getattr(backend, "free", False))  # runs on the user's own hardware: no dollars per token
        found = None if free else price_for(backend.model_name, backend.options.get("price"), backend.prices)
        self.price: Price = found or FREE
        self.priced = free or found is not None
        self.batcher = Batcher(self) if s.batch and backend.supports_batch else None

    # -- public ---------------------------------------------------------------------------------------
    def key(self, request: LLMRequest) -> str:
        return request_key(request, self.backend.provider)

    async def complete(
        self, request: LLMRequest, ctx: RunContext | None = None, *, cache: bool = True, accept_truncated: bool = False
    ) -> LLMResult:
        """One reply: from the cache, or from the backend under every limit. Raises ``LLMCallFailed`` after
        the attempt cap, ``LLMOutputError`` for a cut-off reply, ``RunFailed`` when the run must stop."""
        key = self.key(request)
        hit = ctx.cache_lookup(key) if ctx is not None and cache else None
        if hit is not None:
            return self._from_cache(hit)
        response, usage = await self._fetch(key, request, ctx)
        if response.truncated and not accept_truncated:
            self.counters.fail("truncated")
            raise LLMOutputError(
                f"reply cut off (finish_reason={response.finish_reason}, max_tokens={request.max_tokens})",
                response.text,
            ).with_usage(usage)
        if ctx is not None and cache:
            ctx.cache_put(key, _cache_value(response, usage))
        return LLMResult(response, usage)

    async def complete_json(
        self, request: LLMRequest, ctx: RunContext | None = None, check: Callable[[Any], Sequence[str]] | None = None
    ) -> JSONResult:
        """A JSON reply valid against ``request.json_schema`` and ``check`` (extra rules returning error
        strings). One corrective re-ask on failure; then ``LLMOutputError`` carrying the raw text. Only
        valid replies are cached (under the original request's key)."""
        assert request.json_schema is not None, "complete_json needs request.json_schema"
        key = self.key(request)
        hit = ctx.cache_lookup(key) if ctx is not None else None
        if hit is not None:
            cached = self._from_cache(hit)
            data, error = parse_json(cached.response.text, request.json_schema, check)
            if error is None:
                return JSONResult(data, cached.response, cached.usage, cached=cached.cached)
        first = await self.complete(request, ctx, cache=False, accept_truncated=True)
        usage = first.usage
        data, error = parse_json(first.response.text, request.json_schema, check, first.response)
        final = first.response
        if error is not None:
            self.counters.reasks += 1
            fix = attrs.evolve(
                request,
                messages=(
                    *request.messages,
                    Message("assistant", first.response.text or "(empty)"),
                    Message("user", reask_text(error, request, self.backend)),
                ),
            )
            try:
                second = await self.complete(fix, ctx, cache=False, accept_truncated=True)
            except (LLMCallFailed, LLMOutputError) as exc:
                raise _with_usage(exc, usage + getattr(exc, "usage", Usage())) from None
            usage = usage + second.usage
            final = second.response
            data, error = parse_json(second.response.text, request.json_schema, check, second.response)
            if error is not None:
                self.counters.fail("invalid_output")
                raise LLMOutputError(
                    f"invalid structured reply after one corrective re-ask: {error}", second.response.text
                ).with_usage(usage)
        if ctx is not None:
            ctx.cache_put(key, _cache_value(final, usage))
        return JSONResult(data, final, usage)

    def stats(self) -> RuntimeStats:
        """A frozen copy of what this runtime did so far."""
        c = self.counters
        return RuntimeStats(
            provider=self.backend.provider or self.backend.name,
            model=self.backend.model_name,
            requests=c.requests,
            retries=c.retries,
            rate_limited=c.rate_limited,
            reasks=c.reasks,
            cache_hits=c.cache_hits,
            batches=c.batches,
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
            cost_usd=round(c.spent_usd, 10),
            failures=dict(c.failures),
        )

    def set_concurrency(self, limit: int) -> None:
        """Change the in-flight limit before the first request (the ``concurrency`` knob): the limiter, the
        settings and the backend's client pool size all follow it."""
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        self.settings = attrs.evolve(self.settings, concurrency=limit)
        self.limiter = AdaptiveLimiter(limit)
        self.backend.concurrency = limit  # type: ignore[misc]  # sizes the client pool it builds lazily

    async def aclose(self) -> None:
        await self.backend.aclose()

    # -- internals ------------------------------------------------------------------------------------
    def _from_cache(self, hit: CacheHit) -> LLMResult:
        """A cached reply. Billable (the running unit paid for it before a crash or failure and has not
        recorded it yet): its original usage and cost, ``cached=False``, exactly as the uninterrupted run
        records it, and not charged again (the spend ledger already holds it). Otherwise free."""
        self.counters.cache_hits += 1
        value = hit.value
        fields = {a.name for a in attrs.fields(LLMResponse)}
        response = LLMResponse(**{k: v for k, v in value.items() if k in fields})
        if hit.billable:
            paid = value.get("usage") or {
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "cost_usd": value.get("cost_usd", 0.0),
            }
            usage = Usage(int(paid["input_tokens"]), int(paid["output_tokens"]), float(paid["cost_usd"]), False)
            return LLMResult(response, usage, cached=False)
        usage = Usage(response.input_tokens, response.output_tokens, 0.0, True)
        return LLMResult(response, usage, cached=True)

    def cost(self, response: LLMResponse, *, batch: bool = False) -> float:
        return self.price.cost(
            response.input_tokens,
            response.output_tokens,
            response.cached_input_tokens,
            response.cache_write_tokens,
            batch=batch,
        )

    async def _fetch(self, key: str, request: LLMRequest, ctx: RunContext | None) -> tuple[LLMResponse, Usage]:
        budget = Budget.of(ctx)
        batch = self.batcher is not None
        worst = 0.0
        if budget is not None:
            tokens = request.approx_tokens()
            worst = self.price.cost(tokens - request.max_tokens, request.max_tokens, batch=batch)
            budget.reserve(worst)
        actual = 0.0
        try:
            if self.batcher is not None:
                response = await self.batcher.call(key, request, ctx)
            else:
                response = await self._with_retries(request)
            response = sanitised(response)
            actual = self.cost(response, batch=batch)
        finally:
            if budget is not None:
                budget.settle(worst, actual)
        self.counters.spent_usd += actual
        self.counters.input_tokens += response.input_tokens
        self.counters.output_tokens += response.output_tokens
        usage = Usage(response.input_tokens, response.output_tokens, actual, False)
        if ctx is not None:
            ctx.record_spend(usage, key)
        return response, usage

    def _count_retry(self) -> None:
        self.counters.retries += 1

    async def _with_retries(self, request: LLMRequest) -> LLMResponse:
        try:
            async for attempt in retrying(self.settings, self._count_retry):
                with attempt:
                    return await self._attempt(request)
        except RateLimited as exc:
            self.counters.fail("rate_limited")
            raise LLMCallFailed(f"rate limited on all {self.settings.max_attempts} attempts: {exc}") from None
        except TransientError as exc:
            self.counters.fail("transient")
            raise LLMCallFailed(f"{type(exc).__name__} on all {self.settings.max_attempts} attempts: {exc}") from None
        except PermanentError as exc:
            self.counters.fail("permanent")
            raise LLMCallFailed(f"request refused (HTTP {exc.status}): {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, request: LLMRequest) -> LLMResponse:
        if self.breaker.tripped:
            raise self._trip()
        if self.rpm is not None:
            await self.rpm.acquire(1)
        if self.tpm is not None:
            await self.tpm.acquire(request.approx_tokens())
        await self.limiter.acquire()
        try:
            self.counters.requests += 1
            response = await self.backend.complete(request)
        except RateLimited as exc:
            self.counters.rate_limited += 1
            self.limiter.on_rate_limited(exc.retry_after)
            raise
        except LLMError as exc:
            if self.breaker.record(False, f"{type(exc).__name__}: {exc}"):
                raise self._trip() from exc
            raise
        finally:
            self.limiter.release()
        self.limiter.on_success()
        self.breaker.record(True)
        return response

    def _trip(self) -> BreakerTripped:
        b = self.breaker
        return BreakerTripped(
            f"{self.backend.provider or self.backend.name}: error rate {b.error_rate:.0%} over the last "
            f"{b.window} requests (threshold {b.threshold:.0%}; last error: {b.last_error}); "
            "stopped cleanly — resume the run when the service recovers"
        )


MAX_REPLY_TOKENS = 100_000_000  # per count of one reply: far beyond any model, far below SQLite's 2**63
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str decoded from JSON, only a lone surrogate is one


def sanitised(response: LLMResponse) -> LLMResponse:
    """A vendor's reply made safe to store, at the one boundary every backend's reply crosses: each token
    count capped at :data:`MAX_REPLY_TOKENS` (a hostile or broken server can claim 2**63-1), lone surrogates
    (text no UTF-8 file or database can hold) replaced by U+FFFD. The paid reply is then cached like any
    other, so a resume never pays for it again and every path sees the same text."""
    counts = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
    capped: dict[str, Any] = {n: MAX_REPLY_TOKENS for n in counts if getattr(response, n) > MAX_REPLY_TOKENS}
    if capped:
        _log.warning(
            "%s reported %s tokens (more than %d): capped",
            response.model or "the backend",
            ", ".join(f"{getattr(response, n)} {n.removesuffix('_tokens')}" for n in capped),
            MAX_REPLY_TOKENS,
        )
    text = _SURROGATE.sub("\ufffd", response.text)
    if capped or text != response.text:
        return attrs.evolve(response, text=text, **capped)
    return response


def _cache_value(response: LLMResponse, usage: Usage) -> dict[str, Any]:
    """The reply plus what it cost in all (a re-ask included), so its owner can record it again."""
    value = attrs.asdict(response)
    value["cost_usd"] = usage.cost_usd
    value["usage"] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": usage.cost_usd,
    }
    return value


def _with_usage(exc: Exception, usage: Usage) -> Exception:
    exc.usage = usage  # type: ignore[attr-defined]
    return exc


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse_json(
    text: str,
    schema: dict[str, Any],
    check: Callable[[Any], Sequence[str]] | None = None,
    response: LLMResponse | None = None,
) -> tuple[Any, str | None]:
    """(data, None) for a valid reply, else (None, what is wrong) in words fit to show the model."""
    if response is not None and response.truncated:
        return None, "the reply was cut off before it ended (keep it shorter)"
    match = _FENCE.match(text or "")
    body = match.group(1) if match else (text or "")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        shown = "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
        return None, f"does not match the schema: {shown}"
    if check is not None:
        problems = list(check(data))
        if problems:
            return None, "; ".join(problems[:8])
    return data, None


def reask_text(error: str, request: LLMRequest, backend: LLMBackend) -> str:
    text = f"Your reply was not usable: {error}. Reply again with only the corrected JSON object"
    if not backend.supports_json_schema:
        text += " matching this JSON Schema:\n" + json.dumps(request.json_schema)
    return text + "."


__all__ = [
    "LLMRuntime",
    "RuntimeSettings",
    "RuntimeStats",
    "LLMResult",
    "JSONResult",
    "Budget",
    "BreakerTripped",
    "BudgetReached",
    "request_key",
    "parse_json",
]

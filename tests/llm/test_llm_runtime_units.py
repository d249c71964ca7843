"""Runtime pieces without HTTP: throttling, buckets, breaker, pricing, structured-output parsing, estimates."""

from __future__ import annotations

import asyncio
import time

import pytest

from dualalign_core.llm.faults import retry_after_seconds
from dualalign_core.llm.pricing import lookup, price_table
from dualalign_core.llm.runtime import parse_json, request_key
from dualalign_core.llm.throttle import AdaptiveLimiter, ErrorBreaker, TokenBucket
from dualalign_core.llm.types import LLMRequest, Message


def test_aimd_halves_then_creeps_back():
    lim = AdaptiveLimiter(64, cooldown=0.0)
    lim.on_rate_limited(None)
    assert lim.limit == 32
    lim.on_rate_limited(None)
    assert lim.limit == 16
    for _ in range(200):
        lim.on_success()
    assert 24 < lim.limit <= 64
    for _ in range(5000):
        lim.on_success()
    assert lim.limit == 64


def test_rate_limit_pause_blocks_new_requests():
    lim = AdaptiveLimiter(4)

    async def go():
        lim.on_rate_limited(0.2)
        t0 = time.monotonic()
        await lim.acquire()
        lim.release()
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.19


def test_token_bucket_rpm():
    async def go():
        bucket = TokenBucket(600)  # 10/s, burst 600
        bucket.tokens = 0
        t0 = time.monotonic()
        for _ in range(3):
            await bucket.acquire(1)
        return time.monotonic() - t0

    assert 0.25 <= asyncio.run(go()) < 0.6


def test_breaker_needs_a_full_window():
    b = ErrorBreaker(window=4, threshold=0.5)
    assert not b.record(False) and not b.record(False) and not b.record(True)
    assert b.record(False)


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({}) is None


def test_prices_are_data_with_source_and_date():
    table = price_table()
    for src in table["sources"].values():
        assert src["url"].startswith("https://") and src["read"]
    assert lookup("gpt-4o-2024-08-06") == lookup("gpt-4o")
    assert lookup("gpt-4o-mini-2024-07-18").input == 0.15
    assert lookup("claude-sonnet-4-5-20250929").output == 15.0
    assert lookup("llama3.1:8b") is None
    p = lookup("gpt-4o")
    assert p.cost(1_000_000, 1_000_000) == pytest.approx(12.5)
    assert p.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(6.25)
    assert p.cost(1_000_000, 0, cached_input_tokens=1_000_000) == pytest.approx(1.25)


def test_cache_key_covers_params_not_flags():
    base = LLMRequest(model="m", messages=[Message("user", "hi")], temperature=0.0, seed=1)
    same = LLMRequest(model="m", messages=[Message("user", "hi")], temperature=0.0, seed=1, cache_system=True)
    assert request_key(base) == request_key(same)
    for other in (
        LLMRequest(model="m2", messages=base.messages, temperature=0.0, seed=1),
        LLMRequest(model="m", messages=base.messages, temperature=0.5, seed=1),
        LLMRequest(model="m", messages=base.messages, temperature=0.0, seed=2),
        LLMRequest(model="m", messages=base.messages, temperature=0.0, seed=1, json_schema={"type": "object"}),
    ):
        assert request_key(other) != request_key(base)


def test_parse_json_reports_what_is_wrong():
    schema = {"type": "object", "properties": {"label": {"enum": ["a", "none"]}}, "required": ["label"]}
    assert parse_json('```json\n{"label": "a"}\n```', schema) == ({"label": "a"}, None)
    assert "not valid JSON" in parse_json("{oops", schema)[1]
    assert "'zzz' is not one of" in parse_json('{"label": "zzz"}', schema)[1]
    assert parse_json('{"label": "a"}', schema, check=lambda d: ["nope"])[1] == "nope"

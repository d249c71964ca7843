"""Batch APIs (resumable across restarts), the cost budget, and secrets never reaching disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest
from llm_helpers import SECRET, StubDisease, make_backend, make_persona, make_plan
from test_llm_backends import note_and_sentences

from dualalign_core.context import RunContext
from dualalign_core.llm import for_role
from dualalign_core.llm.budget import Budget, BudgetReached
from dualalign_core.run.store import RunStore

BATCH = {"batch": True, "batch_size": 3, "batch_flush_s": 0.05, "batch_poll_s": 0.05}


async def _generate(gen, ctx, seeds):
    return await asyncio.gather(*(gen.generate(make_plan(s), make_persona(), s, ctx) for s in seeds))


def test_batch_half_price_and_resumable(vendor, server, tmp_path):
    run_dir = tmp_path / "run"
    server.hold_batches = True
    # First process: submits a batch, then dies before it ends.
    store = RunStore(run_dir)
    ctx = RunContext(run_id="r", seed=1, disease=StubDisease(), store=store)  # type: ignore[arg-type]
    gen = for_role("generator", make_backend(vendor, server, **BATCH))

    async def submit_then_die():
        task = asyncio.ensure_future(_generate(gen, ctx, [1, 2, 3]))
        while not gen.runtime.counters.batches:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(submit_then_die())
    store.close()
    creates = sum(v for k, v in server.counts.items() if k.startswith("POST") and "batches" in k)
    assert creates == 1 and server.completions == 0
    # Second process: same requests find their batch id in the run store; nothing is submitted again.
    server.release_batches()
    store = RunStore(run_dir)
    ctx = RunContext(run_id="r", seed=1, disease=StubDisease(), store=store)  # type: ignore[arg-type]
    gen2 = for_role("generator", make_backend(vendor, server, **BATCH))
    outs = asyncio.run(_generate(gen2, ctx, [1, 2, 3]))
    assert all(o.text.startswith("S:") for o in outs)
    assert sum(v for k, v in server.counts.items() if k.startswith("POST") and "batches" in k) == 1
    assert server.counts["batch item"] == 3 and gen2.runtime.counters.batches == 0
    # half price
    price = gen2.runtime.price
    o = outs[0].usage
    full = price.cost(o.input_tokens, o.output_tokens)
    if vendor == "openai":
        assert o.cost_usd == pytest.approx(full / 2, rel=1e-6)
    else:  # prompt-cache reads make it cheaper still
        assert 0 < o.cost_usd <= full / 2 + 1e-9
    # Third run: all cached, zero requests of any kind.
    before = sum(server.counts.values())
    gen3 = for_role("generator", make_backend(vendor, server, **BATCH))
    asyncio.run(_generate(gen3, ctx, [1, 2, 3]))
    assert sum(server.counts.values()) == before
    store.close()


def test_batch_annotation(vendor, server, ctx):
    ann = for_role("annotator", make_backend(vendor, server, **BATCH))
    note, sents = note_and_sentences()
    out = asyncio.run(ann.annotate(note, sents, ctx))
    assert [lb.label for lb in out.labels][0] == "cognitive_impairment" and server.counts["batch item"] == 1


def test_budget_stops_before_crossing(vendor, server, ctx):
    ctx = attrs.evolve(ctx, budget=Budget(0.03))  # one gpt-4o/sonnet note reserves ~1024 output tokens worst case
    gen = for_role("generator", make_backend(vendor, server))

    async def spend():
        for s in range(50):
            await gen.generate(make_plan(s), make_persona(), s, ctx)

    with pytest.raises(BudgetReached, match="would be crossed"):
        asyncio.run(spend())
    budget = ctx.budget
    assert 0 < budget.spent <= 0.03 and budget.reserved == 0 and server.completions >= 1


def test_api_key_never_on_disk(vendor, server, ctx, store):
    server.faults.extend(["429", "500", "badlabel"])
    gen = for_role("generator", make_backend(vendor, server))
    ann = for_role("annotator", make_backend(vendor, server))
    note, sents = note_and_sentences()
    asyncio.run(gen.generate(make_plan(), make_persona(), 1, ctx))
    asyncio.run(ann.annotate(note, sents, ctx))
    store.checkpoint()
    files = [p for p in Path(store.dir).rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert SECRET[vendor].encode() not in data and b"SECRET" not in data, path
    assert any(SECRET[vendor] in a for a in server.auth)

"""The runtime's stats record (what the manifest and report take) and the component lifecycle helpers."""

from __future__ import annotations

import asyncio
import json

import pytest
from llm_helpers import make_backend, make_persona, make_plan
from test_llm_backends import note_and_sentences

from dualalign_core.llm import for_role
from dualalign_core.llm.adapter import stats_by_role
from dualalign_core.llm.runtime import RuntimeStats
from dualalign_core.run.lifecycle import close_components, open_components


def test_stats_count_requests_retries_429s_reasks_cache_hits_and_tokens(server, ctx):
    server.faults.extend(["429", "500"])

    async def main():
        gen = for_role("generator", make_backend("openai", server))
        ann = for_role("annotator", make_backend("openai", server))
        await gen.generate(make_plan(), make_persona(), 11, ctx)  # 429, 500, then a reply
        note, sents = note_and_sentences()
        server.faults.append("badlabel")
        await ann.annotate(note, sents, ctx)  # an invalid reply, then the re-ask
        await gen.generate(make_plan(), make_persona(), 11, ctx)  # the same request: a cache hit
        assert stats_by_role(generator=gen, annotator=ann, filter=object()) == {
            "generator": gen.stats().as_dict(),
            "annotator": ann.stats().as_dict(),
        }
        return gen.stats(), ann.stats()

    gen, ann = asyncio.run(main())
    assert isinstance(gen, RuntimeStats)
    assert (gen.requests, gen.retries, gen.rate_limited, gen.reasks, gen.cache_hits) == (3, 2, 1, 0, 1)
    assert (ann.requests, ann.retries, ann.reasks, ann.cache_hits) == (2, 0, 1, 0)
    assert gen.input_tokens > 0 and gen.output_tokens > 0 and gen.cost_usd > 0
    assert server.completions == gen.requests + ann.requests
    doc = gen.as_dict()
    assert json.loads(json.dumps(doc)) == doc and doc["provider"] == "openai" and doc["model"] == "gpt-4o"
    with pytest.raises(AttributeError):
        gen.requests = 0  # type: ignore[misc]


class Recorder:
    def __init__(self, log: list[str], name: str, fail: bool = False):
        self.log, self.name, self.fail = log, name, fail

    async def open(self, ctx) -> None:
        self.log.append(f"open {self.name}")

    async def aclose(self) -> None:
        self.log.append(f"close {self.name}")
        if self.fail:
            raise RuntimeError(f"{self.name} would not close")


def test_lifecycle_opens_in_order_closes_in_reverse_each_once_and_all_despite_a_failure(ctx):
    log: list[str] = []
    a, b, c = Recorder(log, "a"), Recorder(log, "b", fail=True), Recorder(log, "c")
    asyncio.run(open_components([a, b, a, None, c, object()], ctx))
    assert log == ["open a", "open b", "open c"]
    log.clear()
    with pytest.raises(RuntimeError, match="b would not close"):
        asyncio.run(close_components([a, b, c, a]))
    assert log == ["close c", "close b", "close a"]


def test_closing_an_llm_component_closes_its_clients(server, ctx):
    async def main():
        gen = for_role("generator", make_backend("openai", server))
        await open_components([gen], ctx)
        await gen.generate(make_plan(), make_persona(), 11, ctx)
        client = gen.backend.clients.next()
        await close_components([gen])
        return client

    assert asyncio.run(main()).is_closed()

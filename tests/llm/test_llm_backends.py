"""Both vendor backends, through the official SDKs, against the fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest
from llm_helpers import SECRET, make_backend, make_persona, make_plan

from dualalign_core.errors import RunFailed
from dualalign_core.llm import for_role
from dualalign_core.llm.faults import LLMCallFailed, LLMOutputError
from dualalign_core.records import Note, Sentence, Usage

SENTENCES = [
    "Patient reports forgetting appointments.",
    "Her daughter is worried.",
    "BP 130/80.",
    "She needs help with bills.",
]


def note_and_sentences(i: int = 0) -> tuple[Note, list[Sentence]]:
    text = " ".join(SENTENCES)
    note = Note(
        id=f"n{i}", plan_id=f"n{i}", persona_id="p0", text=text, usage=Usage(), provenance=make_plan().provenance
    )
    sents, pos = [], 0
    for j, s in enumerate(SENTENCES):
        start = text.index(s, pos)
        sents.append(Sentence(id=f"n{i}-s{j:03d}", note_id=note.id, index=j, start=start, end=start + len(s), text=s))
        pos = start + len(s)
    return note, sents


def run(coro):
    return asyncio.run(coro)


def test_generate_note_with_cost_and_key_from_env(vendor, server, ctx):
    gen = for_role("generator", make_backend(vendor, server))
    out = run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert out.text.startswith("S: Patient reports forgetting")
    assert out.usage.input_tokens > 0 and out.usage.output_tokens > 0 and out.usage.cost_usd > 0
    assert out.prompt_hash == ctx.disease.prompt.hash and out.model
    sent = server.bodies[-1][1]
    prompt = str(sent)
    assert "neurology clinic note" in prompt and "Hypertension" in prompt and "forgetting appointments" in prompt
    assert any(SECRET[vendor] in a for a in server.auth)  # the key travels in the header, from the environment
    if vendor == "anthropic":  # the long shared system prompt is marked for prompt caching
        assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize("fault", ["429", "500", "503", "timeout", "drop", "truncated_body", "malformed"])
def test_transient_faults_are_retried(vendor, server, ctx, fault):
    server.faults.extend([fault, fault])
    gen = for_role("generator", make_backend(vendor, server))
    out = run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert out.text
    assert server.completions == 3 and gen.runtime.counters.retries == 2
    if fault == "429":
        assert gen.runtime.counters.rate_limited == 2 and gen.runtime.limiter.cuts >= 1


def test_retry_after_is_honoured(vendor, server, ctx):
    server.faults.append("429s")  # Retry-After: 1 (whole seconds, no -ms header)
    gen = for_role("generator", make_backend(vendor, server))
    t0 = time.monotonic()
    run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert time.monotonic() - t0 >= 1.0 and server.completions == 2


def test_attempt_cap_then_recorded_failure(vendor, server, ctx):
    server.faults.extend(["500"] * 10)
    gen = for_role("generator", make_backend(vendor, server, max_attempts=3))
    with pytest.raises(LLMCallFailed, match="on all 3 attempts"):
        run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert server.completions == 3 and gen.runtime.counters.failures == {"transient": 1}


def test_permanent_error_not_retried(vendor, server, ctx):
    gen = for_role("generator", make_backend(vendor, server, base_url=server.url + "/nowhere"))
    with pytest.raises(LLMCallFailed, match="HTTP 404"):
        run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert gen.runtime.counters.requests == 1


def test_truncated_reply_is_a_recorded_failure(vendor, server, ctx):
    server.faults.append("length")
    gen = for_role("generator", make_backend(vendor, server))
    with pytest.raises(LLMOutputError, match="cut off") as info:
        run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert info.value.raw.startswith("S: Patient") and info.value.usage.cost_usd > 0


def test_breaker_stops_the_run(vendor, server, ctx):
    server.faults.extend(["500"] * 50)
    gen = for_role("generator", make_backend(vendor, server, max_attempts=20, breaker_window=5, breaker_threshold=0.8))
    with pytest.raises(RunFailed, match="error rate 100%"):
        run(gen.generate(make_plan(), make_persona(), 11, ctx))
    assert server.completions == 5


def test_cache_makes_zero_requests_on_rerun(vendor, server, ctx):
    gen = for_role("generator", make_backend(vendor, server))
    ann = for_role("annotator", make_backend(vendor, server))
    note, sents = note_and_sentences()
    first = run(gen.generate(make_plan(), make_persona(), 11, ctx))
    labels = run(ann.annotate(note, sents, ctx))
    n = server.completions
    gen2 = for_role("generator", make_backend(vendor, server))
    ann2 = for_role("annotator", make_backend(vendor, server))
    again = run(gen2.generate(make_plan(), make_persona(), 11, ctx))
    labels2 = run(ann2.annotate(note, sents, ctx))
    assert server.completions == n == 2
    assert again.text == first.text and again.usage.cached and again.usage.cost_usd == 0
    assert [lb.label for lb in labels2.labels] == [lb.label for lb in labels.labels]
    other = run(gen2.generate(make_plan(), make_persona(), 12, ctx))  # another seed is another request
    assert server.completions == 3 and not other.usage.cached


def test_annotator_labels_every_sentence_in_one_request(vendor, server, ctx):
    ann = for_role("annotator", make_backend(vendor, server))
    note, sents = note_and_sentences()
    out = run(ann.annotate(note, sents, ctx))
    assert server.completions == 1
    assert [lb.label for lb in out.labels] == [
        "cognitive_impairment",
        "notice_by_others",
        "none",
        "requiring_assistance",
    ]
    assert [lb.binary for lb in out.labels] == [True, True, False, True]
    assert out.labels[0].evidence == "forgetting" and out.labels[2].evidence is None
    assert out.labels[0].annotator == vendor and out.labels[0].provenance.model


@pytest.mark.parametrize("fault", ["badjson", "badlabel"])
def test_invalid_structured_reply_gets_one_reask(vendor, server, ctx, fault):
    server.faults.append(fault)
    ann = for_role("annotator", make_backend(vendor, server))
    note, sents = note_and_sentences()
    out = run(ann.annotate(note, sents, ctx))
    assert len(out.labels) == 4 and server.completions == 2 and ann.runtime.counters.reasks == 1
    reask = server.bodies[-1][1]["messages"][-1]["content"]
    assert "not usable" in reask and ("banana" in reask or "JSON" in reask)


def test_invalid_twice_is_recorded_with_raw_text(vendor, server, ctx):
    server.faults.extend(["badlabel", "badlabel"])
    ann = for_role("annotator", make_backend(vendor, server))
    note, sents = note_and_sentences()
    with pytest.raises(LLMOutputError, match="after one corrective re-ask") as info:
        run(ann.annotate(note, sents, ctx))
    assert "banana" in info.value.raw and "banana" in str(info.value) and server.completions == 2
    assert ctx.store.cache_size() == 0  # nothing invalid cached


def test_tokens_per_sentence_both_strategies(vendor, server, ctx, capsys):
    from dualalign_core.llm.annotator import tokens_per_sentence

    note, sents = note_and_sentences()
    per_note = run(for_role("annotator", make_backend(vendor, server)).annotate(note, sents, ctx))
    by_sentence = for_role("annotator", make_backend(vendor, server, strategy="sentence"))
    per_sentence = run(by_sentence.annotate(note, sents, ctx))
    assert [lb.label for lb in per_note.labels] == [lb.label for lb in per_sentence.labels]
    a, b = tokens_per_sentence(per_note.usage, 4), tokens_per_sentence(per_sentence.usage, 4)
    with capsys.disabled():
        print(f"\n[{vendor}] tokens per labelled sentence: per-note {a:.0f}, per-sentence {b:.0f} ({b / a:.1f}x)")
    assert a < b


def test_concurrency_is_bounded(vendor, ctx):
    from fakeserver import FakeLLMServer

    srv = FakeLLMServer(latency=0.05).start()
    try:
        gen = for_role("generator", make_backend(vendor, srv, concurrency=4))
        peak = 0

        async def many():
            nonlocal peak

            async def one(i):
                nonlocal peak
                task = asyncio.ensure_future(gen.generate(make_plan(i), make_persona(), i, ctx))
                while not task.done():
                    peak = max(peak, gen.runtime.limiter.in_flight)
                    await asyncio.sleep(0.005)
                return await task

            return await asyncio.gather(*(one(i) for i in range(16)))

        assert len(run(many())) == 16
        assert peak == 4 and srv.completions == 16
    finally:
        srv.stop()

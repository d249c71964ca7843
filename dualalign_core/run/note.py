"""One note, top to bottom: generate -> filters -> segment -> annotate -> filters, with quota refill.

A :class:`NoteMaker` turns a :class:`~dualalign_core.run.executor.WorkUnit` into a
:class:`~dualalign_core.run.store.UnitResult` and never raises for a note's own failure (it becomes a failed
unit, retried on resume); a run-stopping error (budget, error-rate breaker) propagates.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from dualalign_core.components import Annotator, Filter, NoteBundle, Verdict
from dualalign_core.config import RunConfig
from dualalign_core.context import RunContext
from dualalign_core.errors import ComponentError, RunFailed
from dualalign_core.plugins import plugin_call
from dualalign_core.records import Note, Rejection, Sentence, Usage
from dualalign_core.registry import describe_component
from dualalign_core.run.build import Components
from dualalign_core.run.executor import WorkUnit
from dualalign_core.run.store import RunStore, UnitResult
from dualalign_core.seeds import derive_seed
from dualalign_core.text.segment import segment

# After an LLM reply, let the note that takes the freed slot reach the wire before this note's CPU work
# (filters, segmentation, annotation, commit): replies arrive in bursts, and a request sent late is throughput
# lost (benchmarks/throughput_e2e.py at C = 64: median 0.88 -> 0.915 of C/L).
SEND_FIRST_YIELDS = 30


def sentence_id(note_id: str, index: int) -> str:
    """The one sentence-id scheme: ``<note id>-s<index, 3 digits>``."""
    return f"{note_id}-s{index:03d}"


def segment_note(note: Note) -> tuple[Sentence, ...]:
    """The note's sentences, with ids, offsets and sections."""
    return tuple(
        Sentence(
            id=sentence_id(note.id, i),
            note_id=note.id,
            index=i,
            start=s.start,
            end=s.end,
            text=s.text,
            section=s.section,
        )
        for i, s in enumerate(segment(note.text))
    )


def rejection(
    f: Filter, note_id: str, attempt: int, verdict: Verdict, config: RunConfig, ctx: RunContext, warn: frozenset[str]
) -> Rejection:
    """A filter's verdict on one attempt at a note as a ledger entry; enforced unless ``f`` is warn-only
    (``Components.warn``)."""
    return Rejection(
        record_id=note_id,
        record_kind="note",
        filter=f.name,
        reason=verdict.reason,
        value=verdict.value,
        threshold=verdict.threshold,
        provenance=ctx.provenance(f, config.seed),
        enforced=f.name not in warn,
        attempt=attempt,
    )


def cohort_verdicts(f: Filter, verdicts: Any, bundles: Iterable[NoteBundle]) -> dict[str, Verdict]:
    """A cohort filter's verdicts, checked: a mapping from ids of notes it was given. Anything else is the
    plugin's fault (:class:`ComponentError` naming it), not a ``KeyError`` deep in the refill."""
    where = describe_component(f, "filter")
    if not isinstance(verdicts, Mapping):
        raise ComponentError(
            f"{where} failed in check_cohort: returned {type(verdicts).__name__}, not a mapping of note id to verdict",
            plugin=f.plugin,
            component=f.name,
        )
    known = {b.note.id for b in bundles}
    unknown = sorted(str(k) for k in verdicts if k not in known)
    if unknown:
        raise ComponentError(
            f"{where} failed in check_cohort: a verdict for {len(unknown)} note id(s) it was not given "
            f"(first: {unknown[0]!r})",
            plugin=f.plugin,
            component=f.name,
        )
    return dict(verdicts)


class NoteMaker:
    """Makes notes for one run: its config, components, context and store (read for earlier spend; a
    worker without it gets that from the unit, :attr:`WorkUnit.spent`)."""

    def __init__(self, config: RunConfig, components: Components, ctx: RunContext, store: RunStore | None):
        self.config, self.components, self.ctx, self.store = config, components, ctx, store
        gen, ann = components.generator, components.annotator
        self.gen_sem = asyncio.Semaphore(max(1, gen.concurrency))
        self.ann_sem = asyncio.Semaphore(max(1, ann.concurrency))
        self.send_first = SEND_FIRST_YIELDS if getattr(gen, "runtime", None) is not None else 0  # LLM generators

    async def process(self, unit: WorkUnit) -> UnitResult:
        """Make one note; on rejection regenerate (quota refill) up to ``run.max_attempts``. Never raises.

        Every attempt's verdicts stay in the rejection ledger, each with its ``attempt``.
        """
        unit = unit.decoded()  # a plan arrives as stored: decoded here, where the note is made
        ledger = list(unit.prior_rejections)
        attempt = unit.attempt
        # Every attempt is paid for and the unit carries the sum, including what the stored unit it replaces
        # (a failed one retried on resume, or a cohort refill) recorded: the units' costs are the spend.
        spent = unit.spent if unit.spent is not None or self.store is None else self.store.unit_usage(unit.plan.id)
        spent = spent or Usage()
        with self.ctx.unit_scope(unit.plan.id) as scope:  # the unit owns, and records, the replies it fetches
            while True:
                result = await self.attempt(unit, attempt)
                spent = spent + result.usage
                if result.status != "rejected" or attempt + 1 >= self.config.max_attempts:
                    return attrs.evolve(
                        result, rejections=(*ledger, *result.rejections), usage=spent, billed=sorted(scope.billed)
                    )
                ledger.extend(result.rejections)
                attempt += 1

    async def attempt(self, unit: WorkUnit, attempt: int) -> UnitResult:
        """One attempt at a note: generate, filter, segment, annotate, filter."""
        plan, persona, ctx, c = unit.note_plan(), unit.persona, self.ctx, self.components
        usage = Usage()
        try:
            seed = derive_seed(self.config.seed, "note", plan.id, *((attempt,) if attempt else ()))
            remembered = plan if unit.memory is None else attrs.evolve(plan, memory=unit.memory)
            async with self.gen_sem:
                with plugin_call(c.generator, "generate", "generator"):
                    generation = await c.generator.generate(remembered, persona, seed, ctx)
            for _ in range(self.send_first):
                await asyncio.sleep(0)
            usage = usage + generation.usage
            note = Note(
                id=plan.id,
                plan_id=plan.id,
                persona_id=persona.id,
                text=generation.text,
                usage=generation.usage,
                provenance=ctx.provenance(
                    c.generator, seed, model=generation.model, prompt_hash=generation.prompt_hash
                ),
                conditioned_on=unit.memory.note_ids if unit.memory else (),
                memory_hash=unit.memory.hash if unit.memory else None,
            )
            rejections = self.apply_filters("generated", NoteBundle(persona=persona, plan=plan, note=note), attempt)
            if any(r.enforced for _, r in rejections):
                return UnitResult(
                    plan.id, unit.seq, "rejected", note=note, rejections=rejections, usage=usage, attempt=attempt
                )
            sentences = segment_note(note)
            async with self.ann_sem:
                with plugin_call(c.annotator, "annotate", "annotator"):
                    annotation = await _annotate(c.annotator, note, sentences, generation, ctx)
            usage = usage + annotation.usage
            bundle = NoteBundle(persona=persona, plan=plan, note=note, sentences=sentences, labels=annotation.labels)
            rejections = [*rejections, *self.apply_filters("annotated", bundle, attempt)]
            rejected = any(r.enforced for _, r in rejections)
            return UnitResult(
                plan.id,
                unit.seq,
                "rejected" if rejected else "accepted",
                note=note,
                sentences=sentences,
                labels=annotation.labels,
                rejections=rejections,
                usage=usage,
                attempt=attempt,
            )
        except RunFailed:
            raise
        except Exception as exc:  # a failed unit is recorded with its reason and retried on resume
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            wasted = getattr(exc, "usage", None)  # replies paid for and then refused (invalid, cut off)
            if isinstance(wasted, Usage):
                usage = usage + wasted
            return UnitResult(plan.id, unit.seq, "failed", error=error, usage=usage, attempt=attempt)

    def apply_filters(self, stage: str, bundle: NoteBundle, attempt: int) -> list[tuple[str, Rejection]]:
        """The ``stage`` filters' verdicts on one attempt at a note, in filter order."""
        out = []
        for f in self.components.filters:
            if f.stage != stage:
                continue
            with plugin_call(f, "check", "filter"):
                verdict = f.check(bundle, self.ctx)
            if verdict is not None:
                out.append(
                    (stage, rejection(f, bundle.note.id, attempt, verdict, self.config, self.ctx, self.components.warn))
                )
        return out


async def _annotate(
    annotator: Annotator, note: Note, sentences: tuple[Sentence, ...], generation: Any, ctx: RunContext
) -> Any:
    """The annotator's labels; those that know generations (the ``plan`` annotator) also see the generation."""
    if hasattr(annotator, "annotate_generation"):
        return await annotator.annotate_generation(note, sentences, generation, ctx)
    return await annotator.annotate(note, sentences, ctx)


__all__ = ["NoteMaker", "rejection", "segment_note", "sentence_id"]

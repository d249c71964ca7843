"""The cohort phase's filters, in bounded memory: accepted notes streamed from the store patient by patient
(patients in cohort order, each patient's notes in plan order, so the whole stream is in plan order).

A cohort filter with ``cohort_checker(ctx, note_text)`` is streamed: it returns an object whose ``add(bundles)``
takes one patient's accepted notes and returns verdicts on them, and ``note_text(note_id)`` reads back an
earlier accepted note's text (near-duplicates confirm candidates with it). Every other cohort filter gets
``check_cohort(bundles, ctx)`` with every accepted note at once (the interface every cohort filter has; memory
then grows with the run). Verdicts are checked and become ledger entries in filter order either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dualalign_core.components import Filter, Verdict
from dualalign_core.config import RunConfig
from dualalign_core.context import RunContext
from dualalign_core.plugins import plugin_call
from dualalign_core.records import Persona, Rejection
from dualalign_core.run.executor import WorkUnit
from dualalign_core.run.note import cohort_verdicts, rejection
from dualalign_core.run.store import RunStore
from dualalign_core.run.view import load_bundles, patient_bundles


def streams(f: Filter) -> bool:
    """Whether a cohort filter checks a stream of patients (else: the list of every accepted note)."""
    return callable(getattr(f, "cohort_checker", None))


def cohort_rejections(
    store: RunStore, filters: Sequence[Filter], config: RunConfig, ctx: RunContext, warn: frozenset[str]
) -> list[Rejection]:
    """Every cohort filter's verdicts on the accepted notes, as ledger entries (filter order, then note id)."""
    found: dict[str, dict[str, Verdict]] = {f.name: {} for f in filters}
    streamed = [f for f in filters if streams(f)]
    if streamed:
        checkers: list[tuple[Filter, Any]] = []
        for f in streamed:
            with plugin_call(f, "check_cohort", "filter"):
                checkers.append((f, f.cohort_checker(ctx, store.note_text)))  # type: ignore[attr-defined]
        for bundles in patient_bundles(store):
            for f, checker in checkers:
                with plugin_call(f, "check_cohort", "filter"):
                    found[f.name].update(cohort_verdicts(f, checker.add(bundles), bundles))  # of notes it was given
    listed = [f for f in filters if not streams(f)]
    if listed:
        bundles = load_bundles(store, accepted_only=True, include_cohort=False)
        for f in listed:
            with plugin_call(f, "check_cohort", "filter"):
                found[f.name] = cohort_verdicts(f, f.check_cohort(bundles, ctx), bundles)
    attempts = store.unit_attempts({nid for verdicts in found.values() for nid in verdicts})
    return [  # every id is an accepted note's (checked), so it has a unit
        rejection(f, nid, attempts[nid][1], v, config, ctx, warn)
        for f in filters
        for nid, v in sorted(found[f.name].items())
    ]


def refill_units(
    store: RunStore, rejected: set[str], personas: dict[str, Persona], max_attempts: int
) -> list[WorkUnit]:
    """The next attempt at each rejected note that has attempts left, in note-id order (plans as stored:
    decoded where each note is made, so a large refill holds their JSON, not their objects)."""
    attempts = store.unit_attempts(rejected)
    plans = store.stored_plans(rejected)
    return [
        WorkUnit(
            attempts[nid][0],
            plans[nid],
            personas[plans[nid].persona_id],
            attempt=attempts[nid][1] + 1,
            prior_rejections=tuple(store.rejections_of(nid)),
        )
        for nid in sorted(rejected)
        if attempts[nid][1] + 1 < max_attempts
    ]


__all__ = ["cohort_rejections", "refill_units", "streams"]

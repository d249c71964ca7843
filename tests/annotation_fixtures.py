"""Shared fixtures for the annotation and filter tests: a small AD-like disease and bundle builders."""

from __future__ import annotations

import json
import types
from pathlib import Path

from dualalign_core.components import NoteBundle
from dualalign_core.context import RunContext
from dualalign_core.records import Note, NotePlan, Persona, Provenance, RequiredTerm, Usage

DATA = Path(__file__).parent / "data"
LABELS = (
    "cognitive_impairment",
    "neuropsychiatric_symptoms",
    "notice_by_others",
    "physiological_changes",
    "requiring_assistance",
)
PRECEDENCE = (
    "requiring_assistance",
    "notice_by_others",
    "neuropsychiatric_symptoms",
    "physiological_changes",
    "cognitive_impairment",
)
STAGES = ("early_prodromal", "mci", "mild", "moderate")
LEXICON = json.loads((DATA / "test_lexicon.json").read_text(encoding="utf-8"))


def disease() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        name="alzheimers",
        title="Alzheimer's disease",
        labels=LABELS,
        negative_label="none",
        third_party_label="notice_by_others",
        label_precedence=PRECEDENCE,
        stages=STAGES,
        lexicon=LEXICON,
    )


def ctx() -> RunContext:
    return RunContext(run_id="t", seed=0, disease=disease())  # type: ignore[arg-type]


PROV = Provenance(run_id="t", seed=0, component="test", plugin="tests", plugin_version="0")
TERMS = {t["id"]: t for t in LEXICON["terms"]}


def bundle(
    text: str,
    *,
    note_id: str = "n1",
    persona_id: str = "p1",
    stage: str = "mild",
    terms: tuple[str, ...] = (),
    years: float = 1.0,
    index: int = 0,
) -> NoteBundle:
    required = tuple(RequiredTerm(TERMS[t]["label"], t, TERMS[t]["term"]) for t in terms)
    plan = NotePlan(
        id=note_id,
        persona_id=persona_id,
        index=index,
        years_before_diagnosis=years,
        note_type="primary_care",
        stage=stage,
        n_mentions=len(required),
        required_terms=required,
        provenance=PROV,
    )
    persona = Persona(id=persona_id, age=78, demographics={"sex": "female"}, risk_factors=(), provenance=PROV)
    note = Note(id=note_id, plan_id=note_id, persona_id=persona_id, text=text, usage=Usage(), provenance=PROV)
    return NoteBundle(persona=persona, plan=plan, note=note)


def annotated(b: NoteBundle, annotator: object = None) -> NoteBundle:
    """``b`` as a run leaves it for the annotated-stage filters: segmented and labelled by the run's annotator
    (the lexicon annotator unless another is given)."""
    import asyncio

    import attrs

    from dualalign_core.annotate.lexicon import LexiconAnnotator
    from dualalign_core.run.note import segment_note

    sentences = segment_note(b.note)
    annotation = asyncio.run((annotator or LexiconAnnotator()).annotate(b.note, sentences, ctx()))  # type: ignore[attr-defined]
    return attrs.evolve(b, sentences=sentences, labels=annotation.labels)

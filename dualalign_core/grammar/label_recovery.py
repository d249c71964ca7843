"""How well a text annotator agrees with the labels the note grammar wrote (offline, no run needed)."""

from __future__ import annotations

from typing import Any

from dualalign_core.annotate.from_plan import labels_for
from dualalign_core.annotate.quality import LabelQuality, label_quality
from dualalign_core.context import RunContext
from dualalign_core.grammar.compose import GrammarOptions, NoteGrammar
from dualalign_core.records import Sentence
from dualalign_core.seeds import derive_seed
from dualalign_core.text.segment import segment


def grammar_agreement(
    disease: Any,
    annotator: Any,
    *,
    patients: int = 5,
    seed: int = 0,
    multiplier: float = 5.0,
    options: GrammarOptions | None = None,
) -> LabelQuality:
    """Compose the notes of ``patients`` sampled patients and score ``annotator.label_text`` against the
    grammar's labels (gold = what the grammar wrote)."""
    from dualalign_core.sampling.personas import PrevalencePersonaSource
    from dualalign_core.sampling.trajectory import StageScheduleSampler

    ctx = RunContext(run_id="grammar-agreement", seed=seed, disease=disease)
    sampler = StageScheduleSampler()
    sampler.multiplier = multiplier
    grammar = NoteGrammar(disease, options)
    texts, gold, pred = [], [], []
    for persona in PrevalencePersonaSource().sample(disease, patients, seed, ctx):
        for plan in sampler.plan(persona, disease, derive_seed(seed, "plan", persona.id), ctx):
            note = grammar.compose(plan, persona, derive_seed(seed, "note", plan.id))
            sents = [
                Sentence(id=str(i), note_id=plan.id, index=i, start=s.start, end=s.end, text=s.text, section=s.section)
                for i, s in enumerate(segment(note.text))
            ]
            for s, (label, _) in zip(sents, labels_for(sents, note.spans, disease), strict=True):
                texts.append(s.text)
                gold.append(label)
                pred.append(annotator.label_text(s.text, disease, s.section).label)
    return label_quality(texts, gold, pred, disease.labels, disease.negative_label)

"""Lexicon mentions of a note bundle, shared by the filters that read symptoms."""

from __future__ import annotations

from typing import Any

from dualalign_core.annotate.lexicon import LexiconAnnotator, Mention
from dualalign_core.components import NoteBundle
from dualalign_core.text.segment import segment


def bundle_mentions(bundle: NoteBundle, disease: Any) -> list[Mention]:
    """Every lexicon mention in the note (its sentences, or the segmented text when there are none)."""
    matcher = LexiconAnnotator().matcher(disease)
    units = (
        [(s.text, s.section) for s in bundle.sentences]
        if bundle.sentences
        else [(s.text, s.section) for s in segment(bundle.note.text)]
    )
    out: list[Mention] = []
    for text, section in units:
        out.extend(matcher.mentions(text, section))
    return out


def stage_index(disease: Any, stage: str | None) -> int | None:
    stages = list(disease.stages)
    return stages.index(stage) if stage in stages else None

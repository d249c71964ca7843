"""What a note remembers of the patient's earlier notes (``[generator] memory = "notes"``): a summary.

The default summariser is extractive, pure and deterministic: the earlier accepted notes, most recent first,
each headed by its note type and how long before the current note it was written, then its Assessment and
Plan sentences and its symptom-labelled sentences (a label other than the pack's negative one), cut at a word
bound on whole sentences. Its hash (:func:`~dualalign_core.seeds.short_hash` of the text) is recorded on the
note with the ids of the notes it drew on.

The seam is :data:`Summariser`: a callable from the current plan and the earlier notes to a
:class:`~dualalign_core.history.timeline.NoteMemory`, chosen by :func:`summariser_for`. An LLM summariser
would be another such callable (it would need a component built with the run's and an async call from the
driver, which computes every unit's memory); only the extractive one exists today.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attrs import frozen

from dualalign_core.components import NoteBundle
from dualalign_core.history.render import ago
from dualalign_core.history.timeline import NoteMemory
from dualalign_core.records import NotePlan, Sentence
from dualalign_core.seeds import short_hash

if TYPE_CHECKING:
    from dualalign_core.config import RunConfig
    from dualalign_core.disease import DiseasePack

Summariser = Callable[[NotePlan, Sequence[NoteBundle]], NoteMemory]
"""(the note about to be written, the patient's earlier accepted notes in plan order) -> its memory."""

CARRIED_SECTIONS = frozenset({"assessment", "plan", "assessment_plan"})


def _words(text: str) -> int:
    return len(text.split())


def _plain(note_type: str) -> str:
    return note_type.replace("_", " ")


@frozen
class ExtractiveSummariser:
    """The earlier notes' Assessment and Plan and their symptom sentences, most recent note first, at most
    ``words`` words (whole sentences; a note's heading is given only with at least one of its sentences)."""

    words: int
    negative_label: str
    note_type_title: Callable[[str], str] = _plain

    def carried(self, bundle: NoteBundle) -> list[Sentence]:
        """The sentences a later note remembers: Assessment and Plan first, then symptom-labelled ones."""
        symptomatic = {lb.sentence_id for lb in bundle.labels if lb.label != self.negative_label}
        plan = [s for s in bundle.sentences if s.section in CARRIED_SECTIONS]
        seen = {s.id for s in plan}
        return plan + [s for s in bundle.sentences if s.id in symptomatic and s.id not in seen]

    def heading(self, current: NotePlan, earlier: NotePlan) -> str:
        when = max(0.0, earlier.years_before_diagnosis - current.years_before_diagnosis)
        title = self.note_type_title(earlier.note_type)
        return f"{title[:1].upper()}{title[1:]}, {ago(when)} earlier:"

    def __call__(self, plan: NotePlan, earlier: Sequence[NoteBundle]) -> NoteMemory:
        lines: list[str] = []
        used: list[str] = []
        budget = self.words
        for bundle in sorted(earlier, key=lambda b: b.plan.index, reverse=True):
            heading = self.heading(plan, bundle.plan)
            cost = _words(heading)
            kept: list[str] = []
            carried = self.carried(bundle)
            if not carried:
                continue  # nothing to carry forward from this note
            for sentence in carried:
                text = " ".join(sentence.text.split())
                if cost + _words(text) > budget:
                    break
                kept.append(text)
                cost += _words(text)
            if not kept:
                break  # the bound is reached: older notes are not remembered
            lines.append(" ".join([heading, *kept]))
            used.append(bundle.note.id)
            budget -= cost
        text = "\n".join(lines)
        return NoteMemory(note_ids=tuple(used), text=text, hash=short_hash(text))


def summariser_for(config: RunConfig, disease: DiseasePack) -> Summariser | None:
    """The summariser the run's config names (today the extractive one, bounded by ``memory_words``); None
    with ``memory = "timeline"`` (notes remember the planned timeline only)."""
    if not config.remembers_notes:
        return None
    return ExtractiveSummariser(config.memory_words, disease.negative_label, disease.note_type_title)


__all__ = ["CARRIED_SECTIONS", "ExtractiveSummariser", "Summariser", "summariser_for"]

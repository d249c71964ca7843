"""The note grammar's view of a plan's timeline context: what it renders and what it must not contradict.

With ``plan.context`` set, the grammar (:mod:`.compose`) writes the timeline's state as negative-label lines
(planned vitals, scores given today, the active medication list, changes since the previous note with their
reasons, the social state, events since the previous note "N months ago") and draws every phrase-bank sentence
through :meth:`TimelineView.ok`, the consistency checker
(:mod:`dualalign_core.history.consistency`) against the context.

Labels stay what the grammar says they are: a timeline line is written as a negative sentence only when the
core's lexicon annotator reads it as the negative label. A line that reads as a symptom (a test score, a fall:
an event whose ``history.json`` entry has a ``label``, a new diagnosis of a symptom) rides on a symptom
sentence of the plan with that label, as a clause of the same sentence, so each note still has exactly its
planned labelled mentions; with no such sentence it is left out (an omission contradicts nothing).

The clinician's style (core dimensions; values a pack does not use are ignored): ``length`` (``terse``,
``standard``, ``detailed``) scales the filler count (at most :data:`MAX_EXTRA_FILLER` more), ``headers``
(``letters``, ``words``) writes ``S:`` or ``Subjective:``, ``abbreviations`` (``few``, ``some``, ``many``) picks
the timeline lines' wording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from dualalign_core.history.consistency import Checker, vocabulary
from dualalign_core.history.render import ago, medication_text, vitals_text
from dualalign_core.history.timeline import NoteContext

LENGTH_SCALE = {"terse": 0.6, "standard": 1.0, "detailed": 1.5}
"""Filler count multiplier by the clinician's ``length`` style ..."""

MAX_EXTRA_FILLER = 6
"""... adding at most this many sentences, so a dense note stays within the ``length_form`` filter's bounds."""

HEADER_WORDS = {"S": "Subjective", "O": "Objective", "A": "Assessment", "P": "Plan"}
"""Section headers for the ``headers = words`` style (the segmenter and ``length_form`` read both forms)."""

MAX_DRAWS = 8
"""Draws of a phrase-bank sentence before the grammar gives the slot up (a symptom sentence falls back to the
term's plain wording)."""


@frozen
class Item:
    """One piece of the timeline to write: wordings from richest to plainest, the section, what it is, and the
    label the pack gives it (``None``: as the lexicon annotator reads it)."""

    kind: str
    section: str
    wordings: tuple[str, ...]
    label: str | None = None


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    """``Fall at home`` -> ``fall at home``; acronyms and mixed-case words (``MoCA``, ``ED``) are kept."""
    word = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if len(word) > 1 and word[1:].islower() else text


class TimelineView:
    """One note's context as the grammar uses it."""

    def __init__(self, disease: Any, context: NoteContext, note_time: float) -> None:
        self.disease, self.context, self.note_time = disease, context, note_time
        self.checker = Checker(vocabulary(disease), context)
        clinician = context.clinician
        self.length = clinician.style_of("length", "standard") if clinician else "standard"
        self.headers = clinician.style_of("headers", "letters") if clinician else "letters"
        self.abbreviations = clinician.style_of("abbreviations", "some") if clinician else "some"
        self.slots = {m.id: f"{m.value:g}" for m in context.vitals()}  # planned vitals fill the bank's slots

    def ok(self, text: str) -> bool:
        """Whether a candidate sentence is consistent with the context."""
        return not self.checker.sentence(text)

    def filler_count(self, n: int) -> int:
        """The grammar's filler count ``n`` in the clinician's ``length`` style."""
        return min(n + MAX_EXTRA_FILLER, int(round(n * LENGTH_SCALE.get(self.length, 1.0))))

    def header_names(self) -> Mapping[str, str]:
        return HEADER_WORDS if self.headers == "words" else {}

    def vitals_line(self) -> str | None:
        text = vitals_text(self.context.vitals())
        return f"{text}." if text else None

    # -- the timeline as items -----------------------------------------------------------------------
    def items(self) -> list[Item]:
        """Everything to write besides the vitals line, in a fixed order."""
        return [*self._scores(), *self._medications(), *self._social(), *self._events()]

    def _scores(self) -> list[Item]:
        before = {m.id: m for m in self.context.previous_scores}
        parts = []
        for m in self.context.scores():
            top = f"/{m.maximum:g}" if m.maximum is not None else ""
            prev = before.get(m.id)
            if self.abbreviations == "many":
                then = f" (prev {prev.value:g}{top})" if prev is not None else ""
                parts.append(f"{m.title} {m.value:g}{top}{then}")
            else:
                then = f", previously {prev.value:g}{top}" if prev is not None else ""
                parts.append(f"{m.title} {m.value:g}{top} today{then}")
        return [Item("scores", "O", (_cap("; ".join(parts)) + ".",))] if parts else []

    def _medications(self) -> list[Item]:
        ctx, many = self.context, self.abbreviations == "many"
        out = []
        if ctx.medications:
            head = {"few": "Current medication list", "many": "Med list"}.get(self.abbreviations, "Medication list")
            listed = ", ".join(medication_text(m) for m in ctx.medications)
            out.append(Item("medications", "S", (f"{head}: {listed}.",)))
        for m in ctx.medications:
            if m.change == "started":
                why = f" for {m.indication.replace('_', ' ')}"
                plain = f"Started {medication_text(m)}"
                out.append(Item("medication_change", "S", (f"{plain}{why}.", f"{plain}.")))
            elif m.change:
                verb = m.change.removeprefix("dose ").strip()
                text = f"{_cap(m.drug)} {verb} to {m.dose}"
                out.append(Item("medication_change", "S", (f"{text}.",)))
        for m in ctx.stopped:
            verb = "d/c'd" if many else "stopped"
            reason = f" ({m.reason})" if m.reason else ""
            out.append(Item("medication_change", "S", (f"{_cap(m.drug)} {verb}{reason}.", f"{_cap(m.drug)} {verb}.")))
        return out

    def _social(self) -> list[Item]:
        order = [d["id"] for d in (getattr(self.disease, "history", None) or {}).get("social", ())]
        states = sorted(self.context.social, key=lambda s: order.index(s.dimension) if s.dimension in order else 99)
        return [Item(f"social:{s.dimension}", "S", (s.text,)) for s in states]

    def _events(self) -> list[Item]:
        out = []
        for e in self.context.events:
            when = ago(e.years_before_diagnosis - self.note_time)
            out.append(Item("event", "S", (f"{e.detail} ({when} ago)", f"{e.title} {when} ago"), e.label))
        return out

    def social_head(self) -> str:
        return "Social"

    def events_head(self) -> str:
        if self.abbreviations == "many":
            return "Interval events"
        return "Since the last visit" if self.context.since_years is not None else "Recent events"


def join_clauses(head: str, clauses: Sequence[str]) -> str:
    """``Social: lives with spouse; still drives.``"""
    return f"{head}: " + "; ".join(lower_first(c.rstrip(".")) for c in clauses) + "."


__all__ = [
    "HEADER_WORDS",
    "LENGTH_SCALE",
    "MAX_DRAWS",
    "MAX_EXTRA_FILLER",
    "Item",
    "TimelineView",
    "join_clauses",
    "lower_first",
]

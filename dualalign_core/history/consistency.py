"""Consistency of a note with its planned timeline: one checker, read from the pack's history table.

:func:`contradictions` reads a note sentence by sentence (clause by clause inside a sentence) and reports what
contradicts the note's :class:`~dualalign_core.history.timeline.NoteContext`:

- ``medication``: a drug (or drug class) of the pack's ``conditions`` table written as current but not active
  at the note's date; a stop or negation cue (*stopped*, *discontinued*, *d/c*, *no longer takes*, *was taken
  off*, *not on*, *no <drug>*) about a drug that is active and was not stopped; a stop cue about a drug the
  patient never took; "no new medications" / "no medication changes" when the context lists a change.
- ``dose``: a dose written right after an active drug ("sertraline 50 mg") whose amount differs from the
  planned dose.
- ``score``: a score of the pack's ``scores`` table (one of its ``patterns`` and a number: "MoCA 24/30",
  "MMSE of 21", "down from 26", "scored 21/30 on the MMSE") whose value is neither this note's planned result
  nor the previous one (with neither, any value contradicts).
- ``social``: an assertion (a state's ``asserts`` regex) of a state other than its dimension's current one.

Negation and hedging are explicit word lists, applied per clause (a sentence split at ``;``, ``,`` and
``and``/``but`` for drugs and social state, at ``;`` for scores):

- a *stop/negation* cue within four words before or three after a drug name makes the mention "not current";
- a *past* cue (*previously*, *history of*, *used to*...) or a *hypothetical* cue (*consider*, *if*, *avoid*,
  *allergic*, *family history*...) anywhere in the clause makes it no claim at all;
- a social assertion preceded by a negation cue in the three words before it, or directly by a relation
  (*her daughter still works*), or in a clause with a past or hypothetical cue, asserts nothing.

What is not recognised is not reported: the rules prefer a missed contradiction to a false one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attrs import field, frozen

from dualalign_core.history.timeline import NoteContext
from dualalign_core.text.segment import segment

KINDS = ("medication", "dose", "score", "social")
"""The kinds of contradiction, in the order the checker reports them within a sentence."""

_STOP = re.compile(
    r"\b(?:stopped|stopping|discontinued|discontinue|d/c'?d|d/c|dc'?d|no longer (?:takes|taking|on|uses|using)|"
    r"(?:was |been )?taken off|came off|weaned off|tapered off|deprescribed|ceased|held)\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"\b(?:not on|not taking|not currently (?:on|taking)|never (?:took|taken|been on|on)|denies taking|"
    r"declined|refused|off)\b",
    re.IGNORECASE,
)
_NO_BEFORE = re.compile(r"\bno\s+$", re.IGNORECASE)  # "no statin": "no" directly before the drug
_PAST = re.compile(
    r"\b(?:previously|formerly|prior|history of|hx of|h/o|in the past|used to|was on|had been on|trial of|"
    r"failed|until)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(
    r"\b(?:consider|considering|considered|discuss|discussed|discussing|if|may|might|would|could|should|"
    r"plan to|planning to|will (?:start|try|begin|add)|recommend|recommended|candidate for|avoid|avoiding|"
    r"allerg\w*|intoleran\w*|family history|fh|risks? of|instead of|rather than|watch for|monitor for|"
    r"options?|looking into|worried|concerned)\b",
    re.IGNORECASE,
)
_SOCIAL_NEGATION = re.compile(r"\b(?:not|no|never|denies|denied|without|nor|n't)\b|n't\b", re.IGNORECASE)
_RELATION = re.compile(
    r"\b(?:wife|husband|spouse|partner|daughter|son|child|children|sister|brother|mother|father|friend|"
    r"neighbou?r|caregiver|aide)(?:'s)?\s+(?:also\s+|still\s+)?$",
    re.IGNORECASE,
)
_NO_CHANGE = re.compile(
    r"\bno (?:new )?medications?(?: changes?)?(?: since| today| at this)|\bno new medications?\b|"
    r"\bno (?:medication|med) changes?\b|\bno changes? (?:to|in) (?:his |her |their )?(?:medications?|meds)\b",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r";|,|\.\s|\s+(?:and|but|then)\s+", re.IGNORECASE)
_SCORE_CLAUSE = re.compile(r";|\.\s")
_DOSE_AFTER = re.compile(r"^\W{0,3}(\d+(?:\.\d+)?)\s*(mg|mcg|µg|g|units?|iu|ml)\b", re.IGNORECASE)
_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|µg|g|units?|iu|ml)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d./])(\d{1,3}(?:\.\d+)?)(?:\s*(?:/|out of|of)\s*(\d{1,3}))?(?![\d/])")
_NOT_A_RESULT = re.compile(
    r"^\s*-?\s*(?:minutes?|mins?|months?|mos?|weeks?|wks?|years?|yrs?|days?|hours?|hrs?|points?|pts?|items?|"
    r"words?|%|times?|x\b)",
    re.IGNORECASE,
)
_PREVIOUS_CUE = re.compile(r"\b(?:from|previously|prior|prev|last|was|before)\W*$", re.IGNORECASE)
_WORDS = re.compile(r"\S+")
STOP_WINDOW_BEFORE, STOP_WINDOW_AFTER, SOCIAL_WINDOW = 4, 3, 3
FIRST_NUMBER_WITHIN = 40
"""Characters after a score's name in which its first number counts as the result."""


@frozen
class Contradiction:
    """One thing a note says that its timeline at the note's date denies."""

    kind: str  # one of KINDS
    detail: str
    sentence: str


@frozen
class _Drug:
    name: str
    drug_class: str


@frozen
class _Score:
    id: str
    title: str
    maximum: float
    pattern: re.Pattern[str]


@frozen
class _State:
    dimension: str
    state: str
    pattern: re.Pattern[str]


@frozen
class Vocabulary:
    """What the checker looks for, from one pack's history table."""

    drugs: Mapping[str, _Drug] = field(factory=dict)  # lower-cased drug name -> drug
    classes: frozenset[str] = frozenset()  # lower-cased drug classes
    names: re.Pattern[str] | None = None  # any drug name or class, as a word
    scores: tuple[_Score, ...] = ()
    states: tuple[_State, ...] = ()
    any_state: re.Pattern[str] | None = None  # any state's assertion (a quick test before the clause rules)

    @classmethod
    def from_history(cls, doc: Mapping[str, Any] | None) -> Vocabulary:
        doc = doc or {}
        drugs = {
            d["drug"].lower(): _Drug(d["drug"], d["class"])
            for spec in doc.get("conditions", {}).values()
            for d in spec.get("drugs", ())
        }
        classes = frozenset(d.drug_class.lower() for d in drugs.values())
        words = sorted({*drugs, *classes}, key=len, reverse=True)
        names = (
            re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in words) + r")(?:e?s)?(?![\w-])", re.IGNORECASE)
            if words
            else None
        )
        scores = tuple(
            _Score(
                s["id"],
                s["title"],
                float(s["maximum"]),
                re.compile(r"(?<![A-Za-z])(?:" + "|".join(s.get("patterns") or [re.escape(s["title"])]) + ")", re.I),
            )
            for s in doc.get("scores", ())
        )
        states = tuple(
            _State(dim["id"], sid, re.compile("|".join(f"(?:{p})" for p in state["asserts"]), re.IGNORECASE))
            for dim in doc.get("social", ())
            for sid, state in dim["states"].items()
            if state.get("asserts")
        )
        any_state = re.compile("|".join(f"(?:{st.pattern.pattern})" for st in states), re.I) if states else None
        return cls(drugs, classes, names, scores, states, any_state)


_VOCABULARIES: dict[int, tuple[Any, Vocabulary]] = {}


def vocabulary(disease: Any) -> Vocabulary:
    """The checker's vocabulary for a pack (built once per pack object; empty without a history table)."""
    cached = _VOCABULARIES.get(id(disease))
    if cached is None or cached[0] is not disease:
        cached = (disease, Vocabulary.from_history(getattr(disease, "history", None)))
        _VOCABULARIES[id(disease)] = cached
    return cached[1]


def _amount(dose: str) -> tuple[float, str] | None:
    m = _DOSE.search(dose)
    return (float(m.group(1)), m.group(2).lower().replace("µg", "mcg")) if m else None


def _clauses(sentence: str, splitter: re.Pattern[str]) -> list[str]:
    return [c for c in splitter.split(sentence) if c and c.strip()]


def _words_between(text: str) -> int:
    return len(_WORDS.findall(text))


def _near_stop(clause: str, start: int, end: int) -> bool:
    """A stop or negation cue close to the drug mention at ``clause[start:end]``."""
    before, after = clause[:start], clause[end:]
    if _NO_BEFORE.search(before):
        return True
    for cue in (_STOP, _NEGATED):
        for m in cue.finditer(before):
            if _words_between(before[m.end() :]) < STOP_WINDOW_BEFORE:
                return True
        later = cue.search(after)
        if later is not None and _words_between(after[: later.start()]) < STOP_WINDOW_AFTER:
            return True
    return False


class Checker:
    """Contradictions of text against one note's context, for one pack's vocabulary."""

    def __init__(self, vocab: Vocabulary, context: NoteContext, kinds: Iterable[str] = KINDS) -> None:
        self.vocab, self.context, self.kinds = vocab, context, frozenset(kinds)
        self.active = {m.drug.lower(): m for m in context.medications}
        self.active_classes = {m.drug_class.lower() for m in context.medications}
        self.ended = {m.drug.lower() for m in context.stopped} | {d.lower() for d in context.former}
        self.today = {m.id: float(m.value) for m in context.scores()}
        self.before = {m.id: float(m.value) for m in context.previous_scores}
        self.social = {s.dimension: s.state for s in context.social}
        self.changed = [m.drug for m in context.medications if m.change] + [m.drug for m in context.stopped]

    def text(self, text: str) -> list[Contradiction]:
        """Every contradiction in a note, sentence by sentence (the core's segmenter)."""
        out: list[Contradiction] = []
        for span in segment(text):
            out.extend(self.sentence(span.text))
        return out

    def sentence(self, sentence: str) -> list[Contradiction]:
        out: list[Contradiction] = []
        if "medication" in self.kinds or "dose" in self.kinds:
            out += self._medications(sentence)
        if "score" in self.kinds:
            out += self._scores(sentence)
        if "social" in self.kinds and self.vocab.any_state is not None and self.vocab.any_state.search(sentence):
            out += self._social(sentence)
        return out

    # -- medications ---------------------------------------------------------------------------------
    def _medications(self, sentence: str) -> list[Contradiction]:
        out = []
        if "medication" in self.kinds and self.changed and _NO_CHANGE.search(sentence):
            out.append(
                Contradiction("medication", f"says no medication changes, but {self.changed[0]} changed", sentence)
            )
        if self.vocab.names is None or not self.vocab.names.search(sentence):
            return out
        for clause in _clauses(sentence, _CLAUSE):
            if _PAST.search(clause) or _HYPOTHETICAL.search(clause):
                continue
            for m in self.vocab.names.finditer(clause):
                out += self._mention(sentence, clause, m)
        return out

    def _mention(self, sentence: str, clause: str, m: re.Match[str]) -> list[Contradiction]:
        word = m.group(1).lower()
        is_class = word not in self.vocab.drugs
        name = word if is_class else self.vocab.drugs[word].name
        current = word in self.active_classes if is_class else word in self.active
        what = f"class {name}" if is_class else name
        if _near_stop(clause, m.start(), m.end()):
            if current and "medication" in self.kinds:
                still = [d for d, s in self.active.items() if is_class and s.drug_class.lower() == word]
                return [
                    Contradiction(
                        "medication",
                        f"{what} written as stopped or not taken, but active"
                        + (f" ({self.active[word].dose})" if not is_class else f" ({', '.join(still)})"),
                        sentence,
                    )
                ]
            if (
                not is_class
                and word not in self.ended
                and _STOP.search(clause)
                and not _NEGATED.search(clause)
                and "medication" in self.kinds
            ):
                return [Contradiction("medication", f"{what} written as stopped, but never taken", sentence)]
            return []
        if not current:
            if "medication" not in self.kinds:
                return []
            why = " (stopped)" if word in self.ended else ""
            return [Contradiction("medication", f"{what} written as current, but not active{why}", sentence)]
        if is_class or "dose" not in self.kinds:
            return []
        written = _DOSE_AFTER.match(clause[m.end() :])
        planned = _amount(self.active[word].dose)
        if written is None or planned is None:
            return []
        amount = (float(written.group(1)), written.group(2).lower().replace("µg", "mcg"))
        if amount != planned:
            return [
                Contradiction(
                    "dose", f"{name} {written.group(1)} {written.group(2)}, planned {self.active[word].dose}", sentence
                )
            ]
        return []

    # -- scores --------------------------------------------------------------------------------------
    def _scores(self, sentence: str) -> list[Contradiction]:
        out = []
        for clause in _clauses(sentence, _SCORE_CLAUSE):
            hits = sorted(
                ((m.start(), m.end(), s) for s in self.vocab.scores for m in s.pattern.finditer(clause)),
                key=lambda h: h[0],
            )
            for i, (start, end, score) in enumerate(hits):
                stop = hits[i + 1][0] if i + 1 < len(hits) else len(clause)
                today, before = self.today.get(score.id), self.before.get(score.id)
                ahead = self._ahead(clause[max(0, start - FIRST_NUMBER_WITHIN) : start], score) if i == 0 else []
                for value in [*ahead, *self._values(clause[end:stop], score)]:
                    if value not in (today, before):
                        pairs = ((today, "today"), (before, "before"))
                        planned = [f"{v:g} {when}" for v, when in pairs if v is not None]
                        detail = f"{score.title} {value:g}, planned " + (" and ".join(planned) or "none")
                        out.append(Contradiction("score", detail, sentence.strip()))
        return out

    @staticmethod
    def _ahead(text: str, score: _Score) -> list[float]:
        """``N/MAX`` results written just before the first score name of a clause ("scored 21/30 on the MMSE")."""
        return [
            float(m.group(1))
            for m in _NUMBER.finditer(text)
            if m.group(2) is not None and float(m.group(2)) == score.maximum and float(m.group(1)) <= score.maximum
        ]

    @staticmethod
    def _values(rest: str, score: _Score) -> list[float]:
        """The results written after a score's name: its first number (within a few words), every
        ``N/MAX`` or ``N of MAX``, and numbers right after *from*, *previously*, *last*..."""
        out: list[float] = []
        for k, m in enumerate(_NUMBER.finditer(rest)):
            value, denominator = float(m.group(1)), m.group(2)
            if value > score.maximum or _NOT_A_RESULT.match(rest[m.end() :]):
                continue
            if denominator is not None:
                if float(denominator) == score.maximum:
                    out.append(value)
                continue
            if (k == 0 and m.start() <= FIRST_NUMBER_WITHIN) or _PREVIOUS_CUE.search(rest[: m.start()]):
                out.append(value)
        return out

    # -- social state --------------------------------------------------------------------------------
    def _social(self, sentence: str) -> list[Contradiction]:
        out = []
        for clause in _clauses(sentence, _CLAUSE):
            if _PAST.search(clause) or _HYPOTHETICAL.search(clause):
                continue
            for st in self.vocab.states:
                current = self.social.get(st.dimension)
                if current is None or current == st.state:
                    continue
                for m in st.pattern.finditer(clause):
                    before = clause[: m.start()]
                    window = " ".join(_WORDS.findall(before)[-SOCIAL_WINDOW:])
                    if _SOCIAL_NEGATION.search(window) or _RELATION.search(before):
                        continue
                    out.append(
                        Contradiction(
                            "social", f"{st.dimension} written as {st.state!r}, planned {current!r}", sentence.strip()
                        )
                    )
                    break
        return out


def contradictions(
    text: str, context: NoteContext | None, disease: Any, kinds: Sequence[str] = KINDS
) -> list[Contradiction]:
    """What ``text`` says that ``context`` (the note's timeline) denies, sentence by sentence; nothing for a
    plan without a context or a pack without a history table."""
    if context is None:
        return []
    return Checker(vocabulary(disease), context, kinds).text(text)


__all__ = ["KINDS", "Checker", "Contradiction", "Vocabulary", "contradictions", "vocabulary"]

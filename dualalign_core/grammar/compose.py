"""The note grammar: a SOAP note composed from the plan and the pack's phrase banks, every sentence labelled.

Each required term of the plan becomes one symptom sentence: a descriptive realisation of the term (share
``descriptive_share``) or the lexicon's own wording, optionally hedged and timed, framed in a voice. A voice
in the bank's ``third_party_voices`` gives the sentence the pack's third-party label when that label outranks
the term's (``label_precedence``); terms that carry the third-party label are always written in such a voice,
so the sentence's label is the plan's category. Around them go non-symptom lines (vitals, exam, medications,
chronic-disease management from the persona's risk factors, plans; ``filler_ratio`` per mention, at least
a few) and hard negatives (negated findings, family history, hypotheticals, other causes, resolved episodes;
``negative_ratio`` per mention, at least one), labelled with the negative label. One ``numpy`` generator seeded
by the note's seed draws everything in a fixed order: the same seed writes the same note.

With a timeline context on the plan (``plan.context``), the note also states the timeline (see
:mod:`.timeline`): planned vitals and scores, medications and their changes, social state, recent events, in
the clinician's style; every phrase-bank sentence that contradicts the context is drawn again. Without one,
the note is exactly what the grammar wrote before timelines existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from attrs import frozen

from dualalign_core.annotate.lexicon import LexiconAnnotator
from dualalign_core.components import LabelledSpan
from dualalign_core.grammar.bank import FALLBACK, PhraseBank, _Slots
from dualalign_core.grammar.timeline_lines import MAX_DRAWS, Item, TimelineView, join_clauses, lower_first
from dualalign_core.records import NotePlan, Persona

SECTIONS = ("S", "O", "A", "P")
_TIMED = re.compile(
    r"\d|\b(?:since|ago|last|year|years|month|months|week|weeks|day|days|night|nights|morning|"
    r"evening|today|now|anymore|lately|recently|once|twice|times)\b",
    re.IGNORECASE,
)


@frozen
class Written:
    """One sentence the grammar wrote, with its section, label and what it is."""

    section: str
    text: str
    label: str
    kind: str
    term_id: str | None = None


@frozen
class ComposedNote:
    """The note text and the labelled span of every sentence in it."""

    text: str
    sentences: tuple[Written, ...]
    spans: tuple[LabelledSpan, ...]


@frozen
class GrammarOptions:
    """Mix of a composed note."""

    descriptive_share: float = 0.75
    filler_ratio: float = 1.0
    negative_ratio: float = 0.35
    min_filler: int = 4
    hedge_rate: float = 0.15
    time_rate: float = 0.3
    vitals: bool = True


def bank_for(disease: Any) -> PhraseBank:
    """The pack's phrase bank (parsed once per pack object), or the plain fallback."""
    doc = getattr(disease, "grammar", None)
    if not doc:
        return FALLBACK
    cache = _BANKS.get(id(doc))
    if cache is None or cache[0] is not doc:
        cache = (doc, PhraseBank.from_dict(doc))
        _BANKS[id(doc)] = cache
    return cache[1]


_BANKS: dict[int, tuple[Any, PhraseBank]] = {}


def precedence(disease: Any) -> tuple[str, ...]:
    order = tuple(getattr(disease, "label_precedence", ()) or ())
    return order + tuple(lab for lab in disease.labels if lab not in order)


class NoteGrammar:
    """Composes labelled notes for one disease pack."""

    def __init__(self, disease: Any, options: GrammarOptions | None = None) -> None:
        self.disease = disease
        self.bank = bank_for(disease)
        self.options = options or GrammarOptions()
        self.third_party = getattr(disease, "third_party_label", None)
        self._rank = {lab: i for i, lab in enumerate(precedence(disease))}
        self._lexicon = {t["id"]: t for t in disease.lexicon.get("terms", ())}
        self._readings: dict[str, str] = {}
        self._annotator = LexiconAnnotator()  # reads timeline lines: a line a symptom reading is not negative

    # -- helpers -------------------------------------------------------------------------------------
    def _pick(self, rng: np.random.Generator, options: Sequence[Any]) -> Any:
        return options[int(rng.integers(len(options)))]

    def _slots(self, rng: np.random.Generator, persona: Persona, pron: Mapping[str, str]) -> dict[str, str]:
        b = self.bank
        slots = _Slots(pron)
        rel = self._pick(rng, b.relatives).format_map(slots)
        pt = self._pick(rng, b.patient_names).format_map(slots)
        sex = persona.demographics.get("sex", "")
        slots.update(
            {
                "rel": rel,
                "Rel": (f"{pron['his'].capitalize()} {rel}" if rng.random() < 0.5 else rel.capitalize()),
                "Pt": pt,
                "age": str(persona.age),
                "sex": {"female": "F", "male": "M"}.get(sex, ""),
                "sex_word": {"female": "woman", "male": "man"}.get(sex, "patient"),
                "sbp": str(int(rng.integers(112, 162))),
                "dbp": str(int(rng.integers(64, 94))),
                "sbp2": str(int(rng.integers(108, 150))),
                "dbp2": str(int(rng.integers(62, 90))),
                "hr": str(int(rng.integers(58, 96))),
                "temp": f"98.{int(rng.integers(0, 9))}",
                "spo2": str(int(rng.integers(94, 100))),
                "rr": str(int(rng.integers(12, 19))),
                "weight": str(int(rng.integers(110, 230))),
                "a1c": f"{int(rng.integers(6, 9))}.{int(rng.integers(0, 9))}",
                "months": str(int(rng.integers(2, 13))),
            }
        )
        if self.bank.findings:
            slots["finding"] = self._pick(rng, self.bank.findings)
        return slots

    def _fill(
        self, rng: np.random.Generator, template: str, persona: Persona, pron: Mapping[str, str], **extra: str
    ) -> str:
        slots = self._slots(rng, persona, pron)
        slots.update(extra)
        text = template.format_map(slots)
        return text[:1].upper() + text[1:]

    def _draw(
        self,
        rng: np.random.Generator,
        templates: Sequence[str],
        persona: Persona,
        pron: Mapping[str, str],
        tl: TimelineView | None,
    ) -> str | None:
        """A filled template; with a timeline, one consistent with it (``None`` after :data:`MAX_DRAWS`)."""
        if tl is None:
            return self._fill(rng, self._pick(rng, templates), persona, pron)
        for _ in range(MAX_DRAWS):
            text = self._fill(rng, self._pick(rng, templates), persona, pron, **tl.slots)
            if tl.ok(text):
                return text
        return None

    def _reads(self, text: str) -> str:
        """The label the core's lexicon annotator gives ``text`` (cached)."""
        label = self._readings.get(text)
        if label is None:
            if len(self._readings) > 50_000:
                self._readings.clear()
            label = self._readings[text] = self._annotator.label_text(text, self.disease).label
        return label

    def _voices_for(self, label: str) -> list[str]:
        """Voices in which a sentence about ``label`` keeps that label."""
        b = self.bank
        third = set(b.third_party_voices) if self.third_party else set()
        if label == self.third_party:
            return [v for v in b.voices if v in third] or list(b.voices)
        outranks = self._rank.get(label, 99) < self._rank.get(self.third_party or "", 99)
        return [v for v in b.voices if v not in third or outranks]

    # -- sentences -----------------------------------------------------------------------------------
    def symptom(
        self,
        rng: np.random.Generator,
        term_id: str,
        term: str,
        label: str,
        persona: Persona,
        pron: Mapping[str, str],
        tl: TimelineView | None = None,
    ) -> Written:
        """One sentence expressing a required term, labelled with the plan's category; with a timeline, one
        consistent with it (after :data:`MAX_DRAWS` draws, the term's plain wording)."""
        if tl is None:
            return self._symptom(rng, term_id, term, label, persona, pron)
        for _ in range(MAX_DRAWS):
            w = self._symptom(rng, term_id, term, label, persona, pron, tl.slots)
            if tl.ok(w.text):
                return w
        return Written(self._section(rng, "patient"), _cap(term) + ".", label, "symptom:term", term_id)

    def _symptom(
        self,
        rng: np.random.Generator,
        term_id: str,
        term: str,
        label: str,
        persona: Persona,
        pron: Mapping[str, str],
        planned: Mapping[str, str] | None = None,
    ) -> Written:
        b, o, planned = self.bank, self.options, planned or {}
        voices = self._voices_for(label)
        weights = np.array([b.voice_weights.get(v, 1.0) for v in voices], dtype=float)
        voice = voices[int(rng.choice(len(voices), p=weights / weights.sum()))]
        real = b.realisations.get(term_id, ())
        if real and rng.random() < o.descriptive_share:
            clause = self._pick(rng, real).text.format_map(_Slots(pron))
            kind = "symptom:descriptive"
        elif label == self.third_party or not b.term_frames:
            entry = self._lexicon.get(term_id, {})
            clause = self._pick(rng, [term, *entry.get("variants", ())])
            kind = "symptom:term"
        else:  # the textbook wording: the term or one of its lexicon variants, in a frame (prose or shorthand)
            said = self._pick(rng, [term, *self._lexicon.get(term_id, {}).get("variants", ())])
            frame = self._pick(rng, b.term_frames)
            text = self._fill(rng, frame, persona, pron, term=said, Term=said[:1].upper() + said[1:], **planned)
            return Written(self._section(rng, "patient"), text, label, "symptom:term", term_id)
        if b.hedges and rng.random() < o.hedge_rate:
            clause = self._pick(rng, b.hedges).replace("{clause}", clause)
        if b.times and rng.random() < o.time_rate and not _TIMED.search(clause):
            clause = f"{clause} {self._pick(rng, b.times)}"
        clause = clause.format_map(_Slots(pron))
        frame = self._pick(rng, b.voices[voice])
        text = self._fill(rng, frame, persona, pron, clause=clause, Clause=clause[:1].upper() + clause[1:], **planned)
        return Written(self._section(rng, voice), text, label, kind, term_id)

    @staticmethod
    def _section(rng: np.random.Generator, voice: str) -> str:
        if voice in ("clinician",):
            return "S" if rng.random() < 0.6 else "A"
        if voice in ("social_work", "nursing"):
            return "A" if rng.random() < 0.5 else "P"
        return "S"

    def compose(self, plan: NotePlan, persona: Persona, seed: int) -> ComposedNote:
        """The note for ``plan`` and the label of every sentence in it."""
        rng = np.random.default_rng(seed)
        b, o, neg = self.bank, self.options, self.disease.negative_label
        sex = persona.demographics.get("sex", "")
        pron = b.pronouns.get(sex) or next(iter(b.pronouns.values()))
        out: list[Written] = []
        openings = b.openings.get(plan.note_type) or b.openings.get("default")
        title = self.disease.note_type_title(plan.note_type)
        opening = (
            self._fill(rng, self._pick(rng, openings), persona, pron)
            if openings
            else self._fill(rng, _plain_opening(title), persona, pron)
        )
        tl = TimelineView(self.disease, plan.context, plan.years_before_diagnosis) if plan.context else None
        for t in plan.required_terms:
            out.append(self.symptom(rng, t.term_id, t.term, t.label, persona, pron, tl))
        n = len(plan.required_terms)
        # non-symptom content: risk-factor management, then filler kinds drawn in turn
        risk = [r for r in persona.risk_factors if r in b.risk_factor_lines]
        for r in risk[:3]:
            line = self._draw(rng, b.risk_factor_lines[r], persona, pron, tl)
            if line is not None:
                out.append(Written("A", line, neg, f"filler:risk:{r}"))
        kinds = [k for k in b.filler if o.vitals or k != "vitals"]
        n_fill = max(o.min_filler, int(round(o.filler_ratio * n)))
        if tl is not None:
            n_fill = max(o.min_filler, tl.filler_count(int(round(o.filler_ratio * n))))
        if kinds:
            chosen = ["vitals"] if "vitals" in kinds else []
            # plain phrasing (a pack without a grammar) has one vitals line a note, as a chart does
            drawn = [k for k in kinds if k != "vitals"] if b.fallback and len(kinds) > 1 else kinds
            chosen += [drawn[int(i)] for i in rng.integers(len(drawn), size=max(0, n_fill - len(chosen)))]
            seen: set[str] = set()
            planned_vitals = tl.vitals_line() if tl else None
            for k in chosen:
                blk = b.filler[k]
                if k == "vitals" and planned_vitals is not None:  # the planned vitals, once
                    text: str | None = planned_vitals
                    planned_vitals = None
                else:
                    text = self._draw(rng, blk.templates, persona, pron, tl)
                if text is None or text in seen:
                    continue
                seen.add(text)
                out.append(Written(blk.section, text, neg, f"filler:{k}"))
        if b.hard_negatives:
            nk = list(b.hard_negatives)
            n_neg = max(1, int(round(o.negative_ratio * n)))
            for i in rng.integers(len(nk), size=n_neg):
                blk = b.hard_negatives[nk[int(i)]]
                line = self._draw(rng, blk.templates, persona, pron, tl)
                if line is not None:
                    out.append(Written(blk.section, line, neg, f"negative:{nk[int(i)]}"))
        if tl is not None:
            out = self._timeline(tl, out)
        if tl is not None or b.fallback:  # every SOAP section written (plain phrasing: the default filters pass)
            out += self._top_up(rng, out, persona, pron, tl)
        order = rng.permutation(len(out))
        by_section: dict[str, list[Written]] = {s: [] for s in SECTIONS}
        by_section["S"].append(Written("S", opening, neg, "opening"))
        for i in order:
            w = out[int(i)]
            by_section[w.section if w.section in by_section else "S"].append(w)
        return _render(by_section, tl.header_names() if tl else None)

    # -- the timeline --------------------------------------------------------------------------------
    def _timeline(self, tl: TimelineView, out: list[Written]) -> list[Written]:
        """``out`` with the timeline written in: negative lines, and symptom-reading lines as clauses of
        symptom sentences of their label (see :mod:`.timeline`)."""
        neg = self.disease.negative_label
        out = list(out)
        joined: dict[str, list[str]] = {"social": [], "event": []}
        for item in tl.items():
            group = item.kind.split(":")[0]
            plain = next((w for w in item.wordings if self._reads(w) == neg and tl.ok(w)), None)
            if plain is not None and item.label is None:
                if group in joined:
                    joined[group].append(plain)
                else:
                    out.append(Written(item.section, plain, neg, f"timeline:{item.kind}"))
                continue
            self._ride(tl, item, out)
        for group, head in (("social", tl.social_head()), ("event", tl.events_head())):
            kept: list[str] = []
            for clause in joined[group]:  # one line; a clause that would make it read as a symptom stays out
                if self._reads(join_clauses(head, [*kept, clause])) == neg:
                    kept.append(clause)
            if kept:
                out.append(Written("S", join_clauses(head, kept), neg, f"timeline:{group}"))
        return out

    def _top_up(
        self,
        rng: np.random.Generator,
        out: list[Written],
        persona: Persona,
        pron: Mapping[str, str],
        tl: TimelineView | None,
    ) -> list[Written]:
        """A filler sentence for each SOAP section left empty (by sentences the context ruled out, or by the
        draw of a small plain-phrasing bank)."""
        have = {w.section for w in out} | {"S"}  # the opening is in S
        extra = []
        for section in SECTIONS:
            kinds = [k for k, blk in self.bank.filler.items() if blk.section == section]
            if section in have or not kinds:
                continue
            for _ in range(MAX_DRAWS):
                k = kinds[int(rng.integers(len(kinds)))]
                text = self._draw(rng, self.bank.filler[k].templates, persona, pron, tl)
                if text is not None:
                    extra.append(Written(section, text, self.disease.negative_label, f"filler:{k}"))
                    break
        return extra

    def _ride(self, tl: TimelineView, item: Item, out: list[Written]) -> None:
        """Add ``item`` as a clause of the first symptom sentence of its label that has none yet."""
        for wording in item.wordings:
            label = item.label or self._reads(wording)
            for i, w in enumerate(out):
                if w.label != label or not w.kind.startswith("symptom") or "; " in w.text or not w.text.endswith("."):
                    continue
                text = f"{w.text[:-1]}; {lower_first(wording.rstrip('.'))}."
                if tl.ok(text):
                    out[i] = attrs.evolve(w, text=text)
                    return


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plain_opening(title: str) -> str:
    """The opening of a note whose pack gives none: ``Neurology consult: 67M seen today.``"""
    title = title.replace("{", "").replace("}", "")
    return f"{title[:1].upper()}{title[1:]}: {{age}}{{sex}} seen today."


def _render(by_section: Mapping[str, list[Written]], headers: Mapping[str, str] | None = None) -> ComposedNote:
    """``S: ...`` / ``O: ...`` lines (or ``Subjective: ...``: ``headers``), with the span of every sentence."""
    parts: list[str] = []
    spans: list[LabelledSpan] = []
    written: list[Written] = []
    pos = 0
    for section in SECTIONS:
        items = by_section.get(section) or []
        if not items:
            continue
        head = f"{(headers or {}).get(section, section)}: "
        parts.append(head)
        pos += len(head)
        for j, w in enumerate(items):
            if j:
                parts.append(" ")
                pos += 1
            parts.append(w.text)
            spans.append(LabelledSpan(pos, pos + len(w.text), w.label, w.kind, w.term_id))
            written.append(w)
            pos += len(w.text)
        parts.append("\n")
        pos += 1
    return ComposedNote("".join(parts), tuple(written), tuple(spans))

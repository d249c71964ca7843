"""Phrase banks of the note grammar: pack data (``grammar.json``), checked, or a plain fallback.

A bank holds what a disease pack knows about how its symptoms show in a chart: descriptive realisations per
lexicon term (clauses with pronoun slots, optionally with *cues*, the specific words the lexicon annotator may
match), voices that frame a clause (patient, clinician, family...), hedges, time expressions, non-symptom
content and hard negatives. The fallback bank, for packs without one, names no disease: it frames lexicon
terms in plain sentences and adds generic vitals, exam and plan lines.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import field, frozen

from dualalign_core.errors import BadInput
from dualalign_core.records import as_tuple

PRONOUN_SLOTS = ("he", "his", "him", "himself", "spouse")
NUMBER_SLOTS = ("sbp", "dbp", "sbp2", "dbp2", "hr", "temp", "spo2", "rr", "weight", "a1c", "months")
SLOTS = frozenset(
    {
        *PRONOUN_SLOTS,
        "He",
        "His",
        "Pt",
        "Rel",
        "rel",
        "clause",
        "Clause",
        "term",
        "Term",
        "finding",
        "age",
        "sex",
        "sex_word",
        *NUMBER_SLOTS,
    }
)


@frozen
class Realisation:
    """A descriptive clause for one lexicon term, and the parts of it the annotator may match."""

    text: str
    cues: tuple[str, ...] = field(converter=as_tuple, default=())


@frozen
class Block:
    """Sentences of one kind (a filler kind or a hard-negative kind) and the SOAP section they go in."""

    section: str
    templates: tuple[str, ...] = field(converter=as_tuple)


@frozen
class PhraseBank:
    """A disease's phrase banks (see ``schemas/grammar.schema.json``)."""

    pronouns: dict[str, dict[str, str]] = field(hash=False)
    voices: dict[str, tuple[str, ...]] = field(hash=False)
    realisations: dict[str, tuple[Realisation, ...]] = field(hash=False)
    voice_weights: dict[str, float] = field(factory=dict, hash=False)
    third_party_voices: tuple[str, ...] = field(converter=as_tuple, default=())
    patient_names: tuple[str, ...] = field(converter=as_tuple, default=("Pt", "Patient"))
    relatives: tuple[str, ...] = field(converter=as_tuple, default=("family member",))
    openings: dict[str, tuple[str, ...]] = field(factory=dict, hash=False)
    term_frames: tuple[str, ...] = field(converter=as_tuple, default=("{Pt} reports {term}.",))
    hedges: tuple[str, ...] = field(converter=as_tuple, default=())
    times: tuple[str, ...] = field(converter=as_tuple, default=())
    risk_factor_lines: dict[str, tuple[str, ...]] = field(factory=dict, hash=False)
    filler: dict[str, Block] = field(factory=dict, hash=False)
    findings: tuple[str, ...] = field(converter=as_tuple, default=())
    hard_negatives: dict[str, Block] = field(factory=dict, hash=False)
    term_cues: dict[str, tuple[str, ...]] = field(factory=dict, hash=False)
    fallback: bool = False

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PhraseBank:
        def tup(xs: Sequence[str] | None) -> tuple[str, ...]:
            return tuple(xs or ())

        def block(d: Mapping[str, Any]) -> dict[str, Block]:
            return {k: Block(v["section"], v["templates"]) for k, v in d.items()}

        defaults = cls(pronouns={}, voices={}, realisations={})
        return cls(
            pronouns={k: dict(v) for k, v in doc["pronouns"].items()},
            voices={k: tup(v) for k, v in doc["voices"].items()},
            realisations={
                k: tuple(Realisation(r) if isinstance(r, str) else Realisation(r["text"], r.get("cues", ())) for r in v)
                for k, v in doc["realisations"].items()
            },
            voice_weights=dict(doc.get("voice_weights", {})),
            third_party_voices=tup(doc.get("third_party_voices")),
            patient_names=tup(doc.get("patient_names")) or defaults.patient_names,
            relatives=tup(doc.get("relatives")) or defaults.relatives,
            openings={k: tup(v) for k, v in doc.get("openings", {}).items()},
            term_frames=tup(doc.get("term_frames")) or defaults.term_frames,
            hedges=tup(doc.get("hedges")),
            times=tup(doc.get("times")),
            risk_factor_lines={k: tup(v) for k, v in doc.get("risk_factor_lines", {}).items()},
            filler=block(doc.get("filler", {})),
            findings=tup(doc.get("findings")),
            hard_negatives=block(doc.get("hard_negatives", {})),
            term_cues={k: tup(v) for k, v in doc.get("term_cues", {}).items()},
        )

    def cue_phrases(self) -> dict[str, tuple[str, ...]]:
        """Term id -> its cues with pronoun slots expanded by every pronoun set (``{his}`` -> his, her)."""
        out: dict[str, tuple[str, ...]] = {}
        for term_id in dict.fromkeys([*self.realisations, *self.term_cues]):
            phrases: list[str] = []
            for cue in [
                *(c for r in self.realisations.get(term_id, ()) for c in r.cues),
                *self.term_cues.get(term_id, ()),
            ]:
                for pron in self.pronouns.values():
                    text = cue.format_map(_Slots(pron))
                    if text not in phrases:
                        phrases.append(text)
            if phrases:
                out[term_id] = tuple(phrases)
        return out


class _Slots(dict):
    """Pronoun slots (and their capitalised forms) for ``str.format_map``."""

    def __init__(self, pron: Mapping[str, str]) -> None:
        super().__init__(pron)
        self.update({k.capitalize(): v.capitalize() for k, v in pron.items()})


FALLBACK = PhraseBank(
    pronouns={
        "female": {"he": "she", "his": "her", "him": "her", "himself": "herself", "spouse": "husband"},
        "male": {"he": "he", "his": "his", "him": "him", "himself": "himself", "spouse": "wife"},
    },
    voices={
        "patient": ("{Pt} reports {clause}.", "{Pt} endorses {clause}.", "{Pt} notes {clause}."),
        "clinician": ("Observed: {clause}.", "Noted during visit: {clause}."),
    },
    realisations={},
    term_frames=("{Pt} reports {term}.", "{Pt} endorses {term}.", "{Pt} describes {term}.", "Noted: {term}."),
    filler={
        "vitals": Block("O", ("BP {sbp}/{dbp}, HR {hr}, T {temp} F, SpO2 {spo2}% on room air.",)),
        "exam": Block(
            "O",
            (
                "Alert, well appearing, in no acute distress.",
                "Heart regular rate and rhythm, lungs clear to auscultation bilaterally.",
                "Abdomen soft and nontender; no peripheral edema.",
                "Skin warm and dry, no rashes noted on exposed areas.",
            ),
        ),
        "ros": Block(
            "S",
            (
                "Review of systems otherwise negative for fever, chest pain and shortness of breath.",
                "Denies fever, chills or night sweats since the last visit.",
                "Medications reviewed with the patient and the list reconciled.",
            ),
        ),
        "assessment": Block(
            "A",
            (
                "Chronic conditions stable on the current regimen.",
                "Overall medically stable, no acute issues identified today.",
            ),
        ),
        "plan": Block(
            "P",
            (
                "Continue current medications without changes.",
                "Follow up in {months} months, sooner if new concerns arise.",
                "Labs ordered before the next visit; results will be reviewed by phone.",
            ),
        ),
    },
    fallback=True,
)


def _templates(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (field path, template) of a grammar document."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, str):
            out.append((path, node))
        elif isinstance(node, list):
            for i, x in enumerate(node):
                walk(x, f"{path}[{i}]")
        elif isinstance(node, dict):
            for k, v in node.items():
                if k not in ("section",):
                    walk(v, f"{path}.{k}" if path else k)

    for key in (
        "patient_names",
        "relatives",
        "openings",
        "voices",
        "term_frames",
        "hedges",
        "times",
        "realisations",
        "term_cues",
        "risk_factor_lines",
        "filler",
        "findings",
        "hard_negatives",
    ):
        if key in doc:
            walk(doc[key], key)
    return out


def check_grammar(doc: Mapping[str, Any], path: Path | str, lexicon: Mapping[str, Any]) -> None:
    """Semantic checks a schema cannot express; raise :class:`BadInput` naming the file and the field."""

    def bad(where: str, message: str) -> BadInput:
        return BadInput(message, file=str(path), field=where)

    term_ids = {t["id"] for t in lexicon.get("terms", ())}
    for key in ("realisations", "term_cues"):
        for term_id in doc.get(key, {}):
            if term_id not in term_ids:
                raise bad(f"{key}.{term_id}", "not a term id of the lexicon")
    for i, voice in enumerate(doc.get("third_party_voices", ())):
        if voice not in doc["voices"]:
            raise bad(f"third_party_voices[{i}]", f"unknown voice {voice!r}")
    for voice in doc.get("voice_weights", {}):
        if voice not in doc["voices"]:
            raise bad(f"voice_weights.{voice}", f"unknown voice {voice!r}")
    for where, text in _templates(doc):
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError as exc:
            raise bad(where, f"not a valid template ({exc})") from None
        unknown = used - SLOTS
        if unknown:
            raise bad(where, f"unknown slot(s) {sorted(unknown)}; allowed: {sorted(SLOTS)}")
    for where, frames in itertools.chain(
        ((f"voices.{k}", v) for k, v in doc.get("voices", {}).items()), (("hedges", doc.get("hedges", ())),)
    ):
        for i, frame in enumerate(frames):
            if "{clause}" not in frame and "{Clause}" not in frame:
                raise bad(f"{where}[{i}]", "a frame needs a {clause} or {Clause} slot")
    neg = doc.get("hard_negatives", {})
    for kind, b in neg.items():
        for i, t in enumerate(b["templates"]):
            if "{finding}" in t and not doc.get("findings"):
                raise bad(f"hard_negatives.{kind}.templates[{i}]", "uses {finding} but the grammar has no findings")

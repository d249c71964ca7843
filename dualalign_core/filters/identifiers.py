"""Identifier guard: no identifier-like text in generated notes (stage ``generated``).

Patterns are tuned to leave clinical text alone: ratios (``BP 120/80``, ``MMSE 24/30``, ``recall 1/3``),
doses and frequencies (``q.d.``, ``2.5 mg``), vitals, and placeholders (``Dr. [Name]``, ``Mr. X``) never
match. Full dates count as dates of birth when they follow a DOB cue or fall in 1900-1979 (a birth year
for this age group; visit dates are later).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.components import Filter, NoteBundle, Verdict

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = (
    rf"(?:\d{{1,2}}[/-]\d{{1,2}}[/-](?:19|20)?\d{{2}}|\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}|"
    rf"\d{{1,2}}\s+{_MONTH}\s+\d{{4}})"
)
_STATES = (
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "DC",
)
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy)"
)

PATTERNS: dict[str, re.Pattern[str]] = {
    "name_with_title": re.compile(
        r"(?<![\w.])(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s+"
        r"[A-Z](?:'[A-Z])?[a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"
    ),
    "labelled_name": re.compile(r"(?<!\w)(?:Patient\s+)?Name\s*:\s*[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+"),
    "phone": re.compile(
        r"(?<![\w/.-])(?:\+?1[-.\s]?)?(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?![\w/-])"
        r"|(?<![\w/.-])\d{3}-\d{4}(?![\w/-])"
    ),
    "ssn": re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])|(?i:\bSSN\b)\s*[:#]?\s*\d{9}\b"),
    "email": re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "mrn": re.compile(
        r"(?<!\w)(?:MRN|Medical\s+Record\s+(?:Number|No\.?|#)|Med\s*Rec\s*#|Acct(?:ount)?\s*(?:#|No\.?|"
        r"Number))\s*[:#]?\s*[A-Z]{0,3}\d[\d-]{3,}|(?<![\d.,/-])\d{8,}(?![\d.,/-])",
        re.IGNORECASE,
    ),
    "street_address": re.compile(
        rf"(?<![\w/.])\d{{1,6}}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\s+){{1,3}}{_STREET}\b\.?"
        rf"|(?i:\bP\.?\s?O\.?\s+Box\s+\d+)"
        rf"|\b(?:{'|'.join(_STATES)})\s+\d{{5}}(?:-\d{{4}})?\b"
    ),
    "date_of_birth": re.compile(
        rf"(?i:\b(?:DOB|D\.O\.B\.?|date\s+of\s+birth|birth\s?date|born(?:\s+on)?))\s*[:#]?\s*"
        rf"{_DATE}|(?<![\w/])\d{{1,2}}/\d{{1,2}}/19[0-7]\d(?![\w/])"
        rf"|(?i:{_MONTH})\s+\d{{1,2}},?\s+19[0-7]\d\b"
    ),
}
KINDS = tuple(PATTERNS)


@frozen
class IdentifierHit:
    kind: str
    start: int
    end: int
    text: str


def find_identifiers(text: str, kinds: tuple[str, ...] = KINDS) -> list[IdentifierHit]:
    """Identifier-like spans in ``text``, in text order."""
    hits = [IdentifierHit(k, m.start(), m.end(), m.group(0)) for k in kinds for m in PATTERNS[k].finditer(text)]
    return sorted(hits, key=lambda h: (h.start, h.kind))


class IdentifierFilter(Filter):
    """Rejects a note with any identifier-like text of the enabled ``kinds``."""

    name = "identifiers"
    stage: ClassVar[str] = "generated"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "kinds": {"type": "array", "items": {"enum": list(KINDS)}, "uniqueItems": True, "default": list(KINDS)}
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.kinds = tuple(self.options["kinds"])

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        hits = find_identifiers(bundle.note.text, self.kinds)
        if not hits:
            return None
        kinds = sorted({h.kind for h in hits})
        return Verdict(
            f"{len(hits)} identifier-like span(s): {', '.join(kinds)}", value=float(len(hits)), threshold=0.0
        )

"""Clinical sentence segmentation: SOAP headers, bullets, numbered problems, vitals lines, abbreviations.

Rules, in order:

1. Lines are the first unit. A line that does not end a sentence (no ``. ! ? :``) is joined with the next
   line when that line starts in lower case and is not a bullet or header (hard-wrapped prose).
2. A section header (``S:``, ``Subjective:``, ``**Assessment and Plan:**``, ``## Plan``, ``HPI:`` ...) sets
   the section of what follows; text after an inline header (``S: 72 yo F ...``) is a sentence of that
   section. Headers are also recognised at the start of a sentence in mid-line (``... stable. Plan: ...``).
3. Bullets (``-``, ``*``, ``•``) and enumerators (``1.``, ``2)``, ``(3)``, ``#4``) start a new sentence; the
   marker is not part of the sentence text.
4. Inside a line a sentence ends at ``. ! ?`` followed by space, except after abbreviations: titles and
   Latin forms (``Dr.``, ``Mrs.``, ``e.g.``, ``vs.``) never end a sentence; dosing and dotted abbreviations
   (``q.d.``, ``b.i.d.``, ``p.o.``, ``pt.``, ``mg.``) end one only before a capitalised word (``Return``),
   not before an all-caps token (``BID``) or a lower-case word; single-letter initials never do.
   Decimals (``2.5 mg``, ``T 98.6``) and ratios (``BP 142/88``, ``MMSE 24/30``) are never split.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen

# Never end a sentence: titles, Latin forms, prefixes that are always followed by more text.
NEVER_END = frozenset(
    {
        "dr",
        "drs",
        "mr",
        "mrs",
        "ms",
        "prof",
        "sr",
        "jr",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "vs",
        "v",
        "viz",
        "cf",
        "approx",
        "appt",
        "dept",
        "fig",
        "ca",
        "c/o",
        "h/o",
        "s/p",
        "w/",
        "w/o",
        "hx",
        "dx",
        "sx",
        "tx",
        "rx",
        "f/u",
        "st",
    }
)
# May end a sentence: only when the next word is capitalised (``Return in 3 months.``).
MAY_END = frozenset(
    {
        "pt",
        "pts",
        "q.d",
        "qd",
        "b.i.d",
        "bid",
        "t.i.d",
        "tid",
        "q.i.d",
        "qid",
        "p.r.n",
        "prn",
        "q.h.s",
        "qhs",
        "h.s",
        "p.o",
        "po",
        "q.a.m",
        "q.p.m",
        "a.m",
        "p.m",
        "mg",
        "mcg",
        "ml",
        "etc",
        "yr",
        "yrs",
        "wk",
        "wks",
        "mo",
        "mos",
        "min",
        "hr",
        "hrs",
        "no",
        "y.o",
        "yo",
        "sec",
        "oz",
        "lb",
        "lbs",
        "in",
        "ft",
        "inc",
        "co",
        "al",
    }
)

_HEADER_NAMES = (
    r"S|O|A|P|A/P|Subjective|Objective|Assessment(?:\s*(?:and|&|/)\s*Plan)?|Impression(?:\s*(?:and|&|/)\s*Plan)?|"
    r"Plan|HPI|History of Present Illness|Interval History|ROS|Review of Systems|PE|Exam|Physical Exam(?:ination)?|"
    r"Vitals?|Vital Signs|Medications?|Current Medications|Meds|Allergies|Impression|Chief Complaint|CC|"
    r"Reason for Visit|Social History|SH|Family History|FH|FHx|PMH|Past Medical History|Labs?|Results|"
    r"Disposition|Follow[- ]?up|Recommendations?|Problem List|Diagnoses|Diagnosis"
)
# "**S:**", "## Plan:", "Subjective:" followed by text or end of line.
HEADER = re.compile(
    rf"^\s*(?:#{{1,6}}\s*)?(?:\*\*|__)?(?P<name>{_HEADER_NAMES})\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*",
    re.IGNORECASE,
)
# A header alone on its line without a colon: "ASSESSMENT AND PLAN", "## Objective", "**Plan**".
BARE_HEADER = re.compile(
    rf"^\s*(?:#{{1,6}}\s*)?(?:\*\*|__)?(?P<name>{_HEADER_NAMES})(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)
MARKER = re.compile(r"^\s*(?:[-*\u2022\u2023\u25e6\u2013+]|\(?\d{1,2}[.)](?!\d)|#\d{1,2}[.:)]?|[a-h][.)](?=\s))\s+")
# Candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace.
BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+")
ENUM_AHEAD = re.compile(r"\(?\d{1,2}[.)]\s")
TERMINAL = re.compile(r"[.!?:;][\"'\u201d\u2019)\]*_]*\s*$")
WORD = re.compile(r"\S+")
WRAP_MIN = 50  # a line at least this long that stops mid-sentence is hard-wrapped prose
_TOKEN_WINDOW = 64


@frozen
class Span:
    """A sentence: offsets into the text, the text itself and the SOAP section it sits in."""

    start: int
    end: int
    text: str
    section: str | None


_SECTION_ALIASES = {
    "subjective": (
        "s",
        "subjective",
        "hpi",
        "history of present illness",
        "interval history",
        "cc",
        "chief complaint",
        "reason for visit",
        "ros",
        "review of systems",
    ),
    "objective": (
        "o",
        "objective",
        "pe",
        "exam",
        "physical exam",
        "physical examination",
        "vitals",
        "vital",
        "vital signs",
        "labs",
        "lab",
        "results",
    ),
    "assessment": ("a", "assessment", "impression", "diagnoses", "diagnosis", "problem list"),
    "plan": ("p", "plan", "disposition", "follow-up", "followup", "follow up", "recommendations", "recommendation"),
    "family_history": ("fh", "fhx", "family history"),
    "past_medical_history": ("pmh", "past medical history"),
    "social_history": ("sh", "social history"),
    "medications": ("medications", "medication", "meds", "current medications"),
}
_ALIAS_TO_SECTION = {alias: name for name, aliases in _SECTION_ALIASES.items() for alias in aliases}
SOAP_SECTIONS = ("subjective", "objective", "assessment", "plan")


def section_name(raw: str) -> str:
    """Canonical section for a header (``S`` -> ``subjective``, ``A/P`` -> ``assessment_plan``)."""
    key = re.sub(r"\s+", " ", raw.strip().lower())
    if key in _ALIAS_TO_SECTION:
        return _ALIAS_TO_SECTION[key]
    if key == "a/p" or (key.startswith(("assessment", "impression")) and "plan" in key):
        return "assessment_plan"
    return key.replace(" ", "_")


def _next_word(text: str, pos: int) -> str:
    m = WORD.match(text, pos)
    return m.group(0).lstrip("\"'(\u201c[") if m else ""


def _prev_token(line: str, end: int) -> str:
    """The whitespace-delimited token before ``end`` (scanning back only over it: linear overall)."""
    if end > _TOKEN_WINDOW:  # the usual case, with str methods on a short window before ``end``
        parts = line[end - _TOKEN_WINDOW : end].rsplit(None, 1)
        if len(parts) == 2:
            return parts[1]
    i = end
    while i > 0 and line[i - 1].isspace():
        i -= 1
    j = i
    while j > 0 and not line[j - 1].isspace():
        j -= 1
    return line[j:i]


def _is_boundary(line: str, m: re.Match[str]) -> bool:
    """Whether the punctuation run matched by ``m`` ends a sentence."""
    nxt = _next_word(line, m.end())
    if not nxt:
        return False
    punct = line[m.start() : m.end()].strip()
    if not punct.startswith("."):
        return True  # ! and ? always end a sentence
    token = _prev_token(line, m.start()).lstrip("\"'([\u201c").lower()
    if not token:
        return True
    if token.replace(".", "").isdigit() and nxt[0].islower():
        return False  # "3. months" is unusual; digits before a lowercase word: keep together
    if token in NEVER_END:
        return False
    if len(token) == 1 and token.isalpha():
        return False  # initials: "J. Smith"
    letters = [ch for ch in nxt if ch.isalpha()]
    title_case = nxt[0].isupper() and not (len(letters) >= 2 and all(ch.isupper() for ch in letters))
    dotted = "." in token and token.replace(".", "").isalpha()
    if token in MAY_END or dotted:
        if token == "no" and nxt[0].isdigit():
            return False  # "No. 3"
        return title_case or nxt[0].isdigit() and bool(ENUM_AHEAD.match(line, m.end()))
    if nxt[0].isupper() or nxt[0].isdigit() or nxt[0] in "\"'(\u201c[":
        return True
    # Lower-case start ("tremor at rest. pt denies falls"): a boundary after an ordinary word.
    return token.isalpha() and len(token) >= 3


def _split_line(line: str) -> list[tuple[int, int]]:
    """Sentence boundaries inside one logical line."""
    cuts = [0]
    for m in BOUNDARY.finditer(line):
        if _is_boundary(line, m):
            cuts.append(m.end())
    cuts.append(len(line))
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if line[a:b].strip()]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(offset, line) pairs after joining hard-wrapped prose lines (offsets kept, text sliced once: linear)."""
    spans: list[list[Any]] = []  # [start, end, last physical line]
    offset = 0
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        start = offset
        offset += len(raw)
        if not line.strip():
            spans.append([start, start, ""])
            continue
        if spans and spans[-1][2].strip() and _continues(spans[-1][2], line):
            spans[-1][1], spans[-1][2] = start + len(line), line
            continue
        spans.append([start, start + len(line), line])
    return [(a, text[a:b]) for a, b, _ in spans]


def _continues(last: str, line: str) -> bool:
    """Whether ``line`` continues the logical line whose last physical line is ``last``."""
    stripped = line.lstrip()
    if not stripped or not stripped[0].islower():
        return False
    if MARKER.match(line) or HEADER.match(line) or BARE_HEADER.match(line):
        return False
    if BARE_HEADER.match(last) or HEADER.fullmatch(last) or len(last.strip()) < WRAP_MIN:
        return False  # short unpunctuated lines are list items ("metformin 500 mg"), not wrapped prose
    return not TERMINAL.search(last)


def _clean(seg: str) -> tuple[int, str]:
    """Strip whitespace and markdown emphasis; return (leading offset, text)."""
    lead = len(seg) - len(seg.lstrip())
    body = seg.strip()
    if body.startswith(("**", "__")) and body.count(body[:2]) % 2 == 1:
        rest = body[2:]
        lead += 2 + len(rest) - len(rest.lstrip())
        body = rest.lstrip()
    if body.endswith(("**", "__")) and body.count(body[-2:]) % 2 == 1:
        body = body[:-2].rstrip()
    return lead, body


def segment(text: str) -> list[Span]:
    """Split a clinical note into sentences with character offsets and section names."""
    spans: list[Span] = []
    section: str | None = None
    for base, line in _logical_lines(text):
        if not line.strip():
            continue
        bare = BARE_HEADER.match(line)
        if bare:
            section = section_name(bare.group("name"))
            continue
        for a, b in _split_line(line):
            pos, seg = a, line[a:b]
            while True:  # peel any header / marker prefixes off this sentence
                header = HEADER.match(seg)
                if header and not _is_label_value(seg, header):
                    section = section_name(header.group("name"))
                    pos, seg = pos + header.end(), seg[header.end() :]
                    continue
                marker = MARKER.match(seg)
                if marker:
                    pos, seg = pos + marker.end(), seg[marker.end() :]
                    continue
                break
            lead, body = _clean(seg)
            if not any(ch.isalnum() for ch in body):
                continue
            start = base + pos + lead
            spans.append(Span(start, start + len(body), body, section))
    return spans


def _is_label_value(seg: str, header: re.Match[str]) -> bool:
    """``A: 3`` style list items are not headers when the name is one letter and the text is a number."""
    name = header.group("name")
    rest = seg[header.end() :].strip()
    return len(name) == 1 and bool(rest) and rest[0].isdigit() and len(rest.split()) == 1


def sections(text: str) -> set[str]:
    """The canonical section names whose headers appear in ``text`` (for form checks)."""
    found: set[str] = set()
    for _base, line in _logical_lines(text):
        if not line.strip():
            continue
        bare = BARE_HEADER.match(line)
        if bare:
            found.add(section_name(bare.group("name")))
            continue
        for a, b in _split_line(line):
            header = HEADER.match(line[a:b])
            if header:
                found.add(section_name(header.group("name")))
    return found

"""Clinical sentence segmentation: SOAP headers, bullets, vitals lines, abbreviations."""

from __future__ import annotations

import re

from attrs import frozen

ABBREVIATIONS = {
    "pt", "pts", "dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "etc", "approx", "hx", "h/o", "q.d", "b.i.d",
    "t.i.d", "q.i.d", "p.r.n", "q.h.s", "p.o", "mg", "no", "fig", "st", "yr", "yrs", "wk", "wks", "mo", "mos",
}
HEADER = re.compile(
    r"^\s*(?P<name>S|O|A|P|A/P|Subjective|Objective|Assessment|Plan|Assessment(?:\s*(?:and|&|/)\s*Plan)?|HPI|"
    r"History of Present Illness|ROS|Review of Systems|PE|Physical Exam(?:ination)?|Vitals?|Medications?|"
    r"Meds|Allergies|Impression|Chief Complaint|CC|Social History|SH|Family History|FH|PMH|"
    r"Past Medical History|Labs?|Results|Disposition|Follow[- ]?up)\s*:",
    re.IGNORECASE,
)
BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


@frozen
class Span:
    """A sentence: offsets into the text, the text itself and the SOAP section it sits in."""

    start: int
    end: int
    text: str
    section: str | None


def _section_name(raw: str) -> str:
    key = raw.strip().lower()
    if key in ("s", "subjective", "hpi", "history of present illness", "cc", "chief complaint", "ros",
               "review of systems"):
        return "subjective"
    if key in ("o", "objective", "pe", "physical exam", "physical examination", "vitals", "vital", "labs", "lab",
               "results"):
        return "objective"
    if key in ("a", "assessment", "impression"):
        return "assessment"
    if key in ("p", "plan", "disposition", "follow-up", "followup", "follow up"):
        return "plan"
    if key.startswith("assessment") or key == "a/p":
        return "assessment_plan"
    return key.replace(" ", "_")


def _split_line(line: str) -> list[tuple[int, int]]:
    """Sentence boundaries inside one line, protecting abbreviations and decimals."""
    cuts = [0]
    for m in BOUNDARY.finditer(line):
        before = line[: m.start()].rstrip("\"')]")
        word = before.rsplit(None, 1)[-1] if before.split() else ""
        token = word.rstrip(".!?").lower()
        if word.endswith(".") and (token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())):
            continue
        cuts.append(m.end())
    cuts.append(len(line))
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if line[a:b].strip()]


def segment(text: str) -> list[Span]:
    """Split a clinical note into sentences with character offsets and section names."""
    spans: list[Span] = []
    section: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        base = offset
        offset += len(line)
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        header = HEADER.match(body)
        start_in_line = 0
        if header:
            section = _section_name(header.group("name"))
            start_in_line = header.end()
            if not body[start_in_line:].strip():
                continue
        bullet = re.match(r"\s*(?:[-*\u2022]|\d{1,2}[.)])\s+", body[start_in_line:])
        if bullet:
            start_in_line += bullet.end()
        rest = body[start_in_line:]
        for a, b in _split_line(rest):
            seg = rest[a:b]
            lead = len(seg) - len(seg.lstrip())
            seg_text = seg.strip()
            s = base + start_in_line + a + lead
            spans.append(Span(s, s + len(seg_text), seg_text, section))
    return spans

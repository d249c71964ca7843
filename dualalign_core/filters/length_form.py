"""Length and form: SOAP sections present and the word count within bounds (stage ``generated``)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from dualalign_core.components import Filter, NoteBundle, Verdict
from dualalign_core.text.segment import SOAP_SECTIONS, sections

_WORD = re.compile(r"\b\w[\w'/.-]*")


class LengthFormFilter(Filter):
    """Rejects a note missing a required section or outside ``[min_words, max_words]``.

    ``A/P`` or ``Assessment and Plan`` satisfies both ``assessment`` and ``plan``; ``HPI`` counts as
    ``subjective`` and ``Exam``/``Vitals`` as ``objective`` (see :func:`dualalign_core.text.segment.sections`).
    """

    name = "length_form"
    stage: ClassVar[str] = "generated"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "required_sections": {"type": "array", "items": {"type": "string"}, "default": list(SOAP_SECTIONS)},
            "min_words": {"type": "integer", "minimum": 0, "default": 40},
            "max_words": {"type": "integer", "minimum": 1, "default": 1000},
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.required = tuple(self.options["required_sections"])
        self.min_words = int(self.options["min_words"])
        self.max_words = int(self.options["max_words"])

    def missing_sections(self, text: str) -> list[str]:
        found = sections(text)
        if "assessment_plan" in found:
            found |= {"assessment", "plan"}
        return [s for s in self.required if s not in found]

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        text = bundle.note.text
        missing = self.missing_sections(text)
        if missing:
            return Verdict(f"missing section(s): {', '.join(missing)}", value=float(len(missing)), threshold=0.0)
        words = len(_WORD.findall(text))
        if words < self.min_words:
            return Verdict(
                f"too short: {words} words < {self.min_words}", value=float(words), threshold=float(self.min_words)
            )
        if words > self.max_words:
            return Verdict(
                f"too long: {words} words > {self.max_words}", value=float(words), threshold=float(self.max_words)
            )
        return None

"""A rule-based SOAP-note generator: offline, instant, deterministic per seed, and it labels what it writes.

It is not an LLM: the pack-driven note grammar (:mod:`dualalign_core.grammar`) writes each required symptom
of the plan as a descriptive realisation or a lexicon phrasing in a voice (patient, clinician, family...),
among non-symptom content and hard negatives; a pack without phrase banks gets plain phrasing. The returned
:class:`Generation` carries every sentence's label (``spans``), which the ``plan`` annotator uses as labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from dualalign_core.components import Generation, Generator
from dualalign_core.grammar import GrammarOptions, NoteGrammar
from dualalign_core.records import NotePlan, Persona, Usage

if TYPE_CHECKING:
    from dualalign_core.context import RunContext

# the note mix's defaults are GrammarOptions' fields; the options schema shows them (declared once, there)
_MIX = {a.name: a.default for a in attrs.fields(GrammarOptions)}


class TemplateGenerator(Generator):
    """Grammar-composed SOAP notes from the plan (options: the mix of a note, ``vitals``)."""

    concurrency: ClassVar[int] = 64
    options_schema: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "vitals": {"type": "boolean", "default": _MIX["vitals"]},
            "descriptive_share": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": _MIX["descriptive_share"],
                "description": "Share of symptom sentences written descriptively.",
            },
            "filler_ratio": {
                "type": "number",
                "minimum": 0,
                "default": _MIX["filler_ratio"],
                "description": "Non-symptom sentences per symptom mention.",
            },
            "negative_ratio": {
                "type": "number",
                "minimum": 0,
                "default": _MIX["negative_ratio"],
                "description": "Hard negatives per symptom mention (at least one).",
            },
            "min_filler": {"type": "integer", "minimum": 0, "default": _MIX["min_filler"]},
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.grammar_options = GrammarOptions(**self.options)
        self._grammars: dict[int, tuple[Any, NoteGrammar]] = {}

    def grammar(self, disease: Any) -> NoteGrammar:
        cached = self._grammars.get(id(disease))
        if cached is None or cached[0] is not disease:
            cached = (disease, NoteGrammar(disease, self.grammar_options))
            self._grammars[id(disease)] = cached
        return cached[1]

    async def generate(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> Generation:
        note = self.grammar(ctx.disease).compose(plan, persona, seed)
        return Generation(text=note.text, model=None, usage=Usage(), spans=note.spans)

    def render(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> str:
        return self.grammar(ctx.disease).compose(plan, persona, seed).text

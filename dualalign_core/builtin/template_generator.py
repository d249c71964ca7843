"""A rule-based SOAP-note generator: offline, instant, deterministic per seed.

It is not an LLM: it writes each required symptom with a lexicon phrasing into templated sentences. Use it
to cost and inspect plans, to test pipelines and filters, and as the runner-overhead baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from dualalign_core.components import Generation, Generator
from dualalign_core.records import NotePlan, Persona, Usage

if TYPE_CHECKING:
    from dualalign_core.context import RunContext

REPORTERS = ("Pt reports", "Patient endorses", "Pt notes", "Patient describes", "Endorses")
OTHERS = ("Spouse reports", "Daughter notes", "Son is concerned about", "Family reports", "Wife mentions")
OBSERVED = ("On exam,", "Observed", "Noted during visit:", "Clinician observes")
CHIEF = {
    "primary_care": "routine follow-up of chronic conditions",
    "neurology": "evaluation of cognitive complaints",
    "memory_clinic": "memory evaluation",
    "psychiatry": "mood and behaviour follow-up",
    "emergency": "fall and acute confusion",
}


class TemplateGenerator(Generator):
    """Templated SOAP notes from the plan (options: ``vitals`` bool)."""

    concurrency: ClassVar[int] = 64
    options_schema: ClassVar[dict] = {
        "type": "object", "additionalProperties": False,
        "properties": {"vitals": {"type": "boolean"}},
    }

    async def generate(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> Generation:
        return Generation(text=self.render(plan, persona, seed, ctx), model=None, usage=Usage())

    def render(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> str:
        rng = np.random.default_rng(seed)
        variants = _variants(ctx)
        sex = {"female": "F", "male": "M"}.get(persona.demographics.get("sex", ""), "")
        chief = CHIEF.get(plan.note_type, "follow-up visit")
        subj = [f"{persona.age}{sex} seen for {chief}."]
        assess = []
        for t in plan.required_terms:
            options = variants.get(t.term_id, [t.term])
            phrase = options[int(rng.integers(len(options)))]
            if t.label == "notice_by_others":
                subj.append(f"{_pick(rng, OTHERS)} {phrase}.")
            elif t.label == "physiological_changes":
                subj.append(f"{_pick(rng, REPORTERS)} {phrase}.")
            elif t.label == "requiring_assistance" and rng.random() < 0.5:
                assess.append(f"{phrase.capitalize()}.")
            elif rng.random() < 0.3:
                assess.append(f"{_pick(rng, OBSERVED)} {phrase}.")
            else:
                subj.append(f"{_pick(rng, REPORTERS)} {phrase}.")
        risks = ", ".join(persona.risk_factors[:4]).replace("_", " ") or "no chronic conditions documented"
        subj.append(f"PMH: {risks}.")
        obj = []
        if self.options.get("vitals", True):
            obj.append(f"BP {int(rng.integers(112, 162))}/{int(rng.integers(64, 94))}, "
                       f"HR {int(rng.integers(58, 96))}, T 98.{int(rng.integers(0, 9))} F.")
        obj.append("Alert, well appearing, in no acute distress.")
        assess.append(f"{ctx.disease.note_type_title(plan.note_type).capitalize()}; chronic conditions stable.")
        plan_lines = ["Continue current medications.", f"Follow up in {int(rng.integers(2, 13))} months."]
        return "\n".join([
            "S: " + " ".join(subj),
            "O: " + " ".join(obj),
            "A: " + " ".join(assess),
            "P: " + " ".join(plan_lines),
        ]) + "\n"


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _variants(ctx: RunContext) -> dict[str, list[str]]:
    cache = ctx.options.setdefault("_template_variants", {})
    if ctx.disease.name not in cache:
        cache[ctx.disease.name] = {
            t["id"]: [t["term"], *t.get("variants", [])] for t in ctx.disease.lexicon["terms"]
        }
    return cache[ctx.disease.name]

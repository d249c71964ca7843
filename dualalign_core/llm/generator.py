"""The generic LLM note generator: the disease pack's prompt, filled from the plan and persona."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dualalign_core.components import Generation, Generator
from dualalign_core.history.render import history_fields
from dualalign_core.llm.adapter import BackendBound
from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.types import LLMRequest, Message
from dualalign_core.records import NotePlan, Persona

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack

# the role's defaults (no schema default: temperature and max_tokens differ when annotating)
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 1024
# with memory = "notes", a prompt that does not place {previous_notes} itself gets the earlier notes here
PREVIOUS_NOTES_BLOCK = (
    "\n\nEarlier notes in this patient's record (most recent first; stay consistent with them, do not copy "
    "them):\n{previous_notes}"
)


def _title(disease: DiseasePack, variable: str, value: str) -> str:
    titles = disease.manifest.get("demographic_titles", {}).get(variable, {}) if disease.manifest else {}
    return titles.get(value, value.replace("_", " "))


def _label_title(disease: DiseasePack, label: str) -> str:
    titles = disease.manifest.get("label_titles", {}) if disease.manifest else {}
    return titles.get(label, label.replace("_", " "))


def prompt_fields(plan: NotePlan, persona: Persona, disease: DiseasePack) -> dict[str, Any]:
    """The template fields for one note, in words: the plan's (:data:`dualalign_core.disease.PLAN_FIELDS`) and
    the patient's history at the note (medications, scores, events... and, with ``memory = "notes"``, the
    earlier notes), and every field the persona carries: its demographic variables (titled by the pack's
    ``demographic_titles``) and any extra a persona source added."""
    factor_titles = {f["id"]: f.get("title", f["id"]) for f in disease.risk_factors.get("factors", [])}
    risks = [factor_titles.get(r, r.replace("_", " ")) for r in persona.risk_factors]
    terms = "\n".join(f"- {t.term} ({_label_title(disease, t.label)})" for t in plan.required_terms)
    persona_fields = {name: _title(disease, name, str(value)) for name, value in persona.demographics.items()}
    persona_fields |= {name: str(value) for name, value in persona.attributes.items()}
    history = history_fields(plan.context, plan.memory, plan.years_before_diagnosis)
    # a planned timeline speaks for the patient's history; without one, a persona source's own fields do
    merged = persona_fields | history if plan.context is not None else history | persona_fields
    return merged | {
        "age": persona.age,
        "risk_factors": ", ".join(risks) if risks else "none recorded",
        "years_before_diagnosis": f"{plan.years_before_diagnosis:.1f}",
        "note_type": disease.note_type_title(plan.note_type),
        "stage": disease.stage_title(plan.stage),
        "n_mentions": plan.n_mentions,
        "required_terms": terms or "- none (this note mentions no symptoms)",
    }


class LLMNoteGenerator(BackendBound, Generator):
    """Writes each note with one request to an LLM backend; the system prompt is marked cacheable."""

    def __init__(self, backend: LLMBackend, **options: Any) -> None:
        Generator.__init__(self, **options)
        self._bind(backend)

    def request(self, plan: NotePlan, persona: Persona, seed: int, disease: DiseasePack) -> LLMRequest:
        system, user = disease.prompt.render(prompt_fields(plan, persona, disease))
        if plan.memory is not None and plan.memory.text and "previous_notes" not in disease.prompt.fields():
            user += PREVIOUS_NOTES_BLOCK.format(previous_notes=plan.memory.text)  # a prompt without the field
        messages = ([Message("system", system)] if system.strip() else []) + [Message("user", user)]
        return LLMRequest(
            model=self.backend.model_name,
            messages=messages,
            temperature=self.option("temperature", DEFAULT_TEMPERATURE),
            max_tokens=self.option("max_tokens", DEFAULT_MAX_TOKENS),
            seed=seed,
            cache_system=True,
        )

    async def generate(self, plan: NotePlan, persona: Persona, seed: int, ctx: RunContext) -> Generation:
        request = self.request(plan, persona, seed, ctx.disease)
        result = await self.runtime.complete(request, ctx)
        text = result.response.text.strip()
        if not text:
            from dualalign_core.llm.faults import LLMOutputError

            raise LLMOutputError("empty reply", result.response.text).with_usage(result.usage)
        return Generation(
            text=text,
            model=result.response.model or self.backend.model_name,
            prompt_hash=ctx.disease.prompt.hash,
            usage=result.usage,
        )

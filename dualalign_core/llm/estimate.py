"""``dualalign estimate CONFIG``: tokens and dollars of a run before it starts, from the real prompts.

Plans are sampled exactly as the run will sample them (same seed), each generation prompt is rendered,
and prompt tokens are counted at 4 characters a token; reply lengths are assumptions (stated in the
result). Vendor prompt-cache discounts are not assumed, so the figure errs high.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import asdict, frozen

from dualalign_core.llm.annotator import LLMAnnotator
from dualalign_core.llm.generator import LLMNoteGenerator

if TYPE_CHECKING:
    from dualalign_core.config import RunConfig
    from dualalign_core.plugins import Registry

CHARS_PER_TOKEN = 4
NOTE_TOKENS = 250  # assumed reply length of a generated note (the paper's mean is 138 at 1x density)
SENTENCE_TOKENS = 18  # assumed mean sentence length, to count sentences per note
LABEL_TOKENS = 25  # reply tokens per labelled sentence (index, label, evidence)
TOKENS_PER_WORD = 4 / 3  # for the earlier notes' summary (memory = "notes"), counted at its bound


@frozen
class RoleEstimate:
    """One role's (generator or annotator) expected requests, tokens and dollars."""

    component: str
    model: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    priced: bool


@frozen
class Estimate:
    notes: int
    generator: RoleEstimate
    annotator: RoleEstimate
    assumptions: dict[str, Any]

    @property
    def cost_usd(self) -> float:
        return round(self.generator.cost_usd + self.annotator.cost_usd, 4)

    @property
    def tokens(self) -> int:
        g, a = self.generator, self.annotator
        return g.input_tokens + g.output_tokens + a.input_tokens + a.output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cost_usd": self.cost_usd, "tokens": self.tokens}


def _tok(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


def _req_tokens(request: Any) -> int:
    return sum(_tok(m.content) + 4 for m in request.messages)


def _role(component: Any, requests: int, inp: int, out: int) -> RoleEstimate:
    runtime = getattr(component, "runtime", None)
    if runtime is None:
        return RoleEstimate(component.name, component.model, 0, 0, 0, 0.0, True)
    batch = runtime.batcher is not None
    cost = runtime.price.cost(inp, out, batch=batch)
    return RoleEstimate(component.name, component.model, requests, inp, out, round(cost, 4), runtime.priced)


def estimate_run(config: RunConfig, registry: Registry | None = None, *, note_tokens: int = NOTE_TOKENS) -> Estimate:
    """Expected tokens and dollars of ``config`` (no request is sent, nothing is written)."""
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.build import build_components
    from dualalign_core.run.plan import plan_cohort
    from dualalign_core.seeds import derive_seed

    components = build_components(config, registry or get_registry())
    cohort = plan_cohort(config, components)
    personas, plans = cohort.personas, cohort.plans
    by_id = {p.id: p for p in personas}
    gen, ann, disease = components.generator, components.annotator, components.disease
    g_in = g_out = a_in = a_out = a_req = 0
    n_sent = max(1, round(note_tokens / SENTENCE_TOKENS))
    memory = round(config.memory_words * TOKENS_PER_WORD) if config.remembers_notes else 0
    first = {p.persona_id: p.index for p in sorted(plans, key=lambda p: -p.index)}  # each patient's first note
    for plan in plans:
        if isinstance(gen, LLMNoteGenerator):
            request = gen.request(plan, by_id[plan.persona_id], derive_seed(config.seed, "note", plan.id), disease)
            g_in += _req_tokens(request) + (memory if first[plan.persona_id] != plan.index else 0)
            g_out += min(note_tokens, request.max_tokens)
        if isinstance(ann, LLMAnnotator):
            from dualalign_core.llm.annotator import system_prompt

            system = _tok(system_prompt(disease)) + 300  # + the JSON schema and instructions
            if ann.strategy == "sentence":
                a_req += n_sent
                a_in += n_sent * (system + SENTENCE_TOKENS + 20)
                a_out += n_sent * LABEL_TOKENS
            else:
                a_req += 1
                a_in += system + note_tokens + 4 * n_sent + 40
                a_out += n_sent * LABEL_TOKENS
    n = len(plans)
    return Estimate(
        notes=n,
        generator=_role(gen, n if isinstance(gen, LLMNoteGenerator) else 0, g_in, g_out),
        annotator=_role(ann, a_req, a_in, a_out),
        assumptions={
            "note_tokens": note_tokens,
            "sentences_per_note": n_sent,
            "label_tokens": LABEL_TOKENS,
            "chars_per_token": CHARS_PER_TOKEN,
            "prompt_cache_discount": False,
            "rejection_refills": "not included",
            "memory_tokens": memory,  # added to each note after a patient's first (memory = "notes")
        },
    )


def over_budget(estimate: Estimate, max_cost_usd: float | None) -> str | None:
    """A message when the estimate exceeds the budget (``--max-cost``), else None."""
    if max_cost_usd is None or estimate.cost_usd <= max_cost_usd:
        return None
    from dualalign_core.llm.pricing import usd

    return (
        f"estimated cost {usd(estimate.cost_usd)} exceeds --max-cost {usd(max_cost_usd)}; the run will stop "
        "when the budget is reached (resume later with a larger budget)"
    )

"""The unaligned baseline of the ablations: personas and symptoms sampled uniformly, no trajectory.

``uniform`` persona source: every demographic category equally likely, each risk factor present with
probability 1/2 (no prevalence tables). ``uniform`` sampler: visit times uniform over the window, the same mean
number of mentions at every visit (the schedule's overall mean times the multiplier), categories uniform over
the labels and terms uniform over the lexicon terms that apply to the persona (`applies_to`), whatever the
stage. Disease-agnostic: only the pack's category names, lexicon and window are read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dualalign_core.components import PersonaSource, TrajectorySampler
from dualalign_core.records import NotePlan, Persona, RequiredTerm
from dualalign_core.sampling.personas import CohortColumns, sample_ages, to_personas
from dualalign_core.sampling.trajectory import StageScheduleSampler, applies

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack


class UniformPersonaSource(PersonaSource):
    """Demographics uniform over categories, risk factors each with probability 1/2."""

    options_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def sample(self, disease: DiseasePack, n: int, seed: int, ctx: RunContext) -> list[Persona]:
        rng = np.random.default_rng(seed)
        variables = {k: list(v) for k, v in disease.demographics["variables"].items()}
        codes = {k: rng.integers(len(v), size=n) for k, v in variables.items()}
        ages = (
            sample_ages(variables["age_band"], codes["age_band"], rng)
            if "age_band" in variables
            else np.zeros(n, dtype=np.int64)
        )
        factors = tuple(f["id"] for f in disease.risk_factors["factors"])
        risk = rng.random((n, len(factors))) < 0.5
        return to_personas(CohortColumns(variables, codes, ages, factors, risk), ctx, self, seed)


class UniformSampler(TrajectorySampler):
    """Note plans without a symptom trajectory. Options: ``notes`` (fixed count per patient)."""

    options_schema = StageScheduleSampler.options_schema

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._aligned = StageScheduleSampler()

    def plan(self, persona: Persona, disease: DiseasePack, seed: int, ctx: RunContext) -> list[NotePlan]:
        s = self._aligned.schedule(disease)
        rng = np.random.default_rng(seed)
        n = self.options.get("notes") or int(
            np.clip(np.rint(s.median_notes * np.exp(s.sigma * rng.standard_normal())), s.min_notes, s.max_notes)
        )
        t = np.maximum(np.sort(np.round(rng.random(n) * s.years, 3))[::-1], 0.001)
        stages = s.stage_index(t)
        mean = float(s.mentions.mean()) * float(self.multiplier)
        pools = [
            [t_ for t_ in disease.lexicon["terms"] if t_["label"] == lb and applies(t_, persona.demographics)]
            for lb in s.labels
        ]
        pools = [p for p in pools if p]
        prov = ctx.provenance(self, seed)
        plans = []
        for i in range(n):
            k = int(rng.poisson(mean))
            cats = [pools[int(c)] for c in rng.integers(len(pools), size=k)] if pools else []
            picks = [c[int(rng.integers(len(c)))] for c in cats]
            required = tuple(RequiredTerm(label=p["label"], term_id=p["id"], term=p["term"]) for p in picks)
            plans.append(
                NotePlan(
                    id=f"{persona.id}-n{i:03d}",
                    persona_id=persona.id,
                    index=i,
                    years_before_diagnosis=float(t[i]),
                    note_type=s.note_types[int(rng.integers(len(s.note_types)))],
                    stage=s.stages[int(stages[i])],
                    n_mentions=len(required),
                    required_terms=required,
                    provenance=prov,
                )
            )
        return plans

"""Trajectory sampler driven by the disease pack's stage schedule and lexicon.

Per patient: how many notes over the years before diagnosis, when, which note type, which stage; per note:
how many symptom mentions (the stage mean times the density multiplier), which categories (multinomial on
the stage's category proportions, so the multiplier keeps proportions), and which lexicon terms
(plausible at that stage, and applicable to the persona: a term's ``applies_to`` names the demographic
categories it can be planned for, so a male-only term never goes into a woman's notes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from attrs import field, frozen

from dualalign_core.components import TrajectorySampler
from dualalign_core.records import NotePlan, Persona, RequiredTerm

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack


def term_applies(term: Mapping[str, Any], demographics: Mapping[str, str]) -> bool:
    """Whether a lexicon term can be planned for a persona: each variable of its ``applies_to`` (if any) has
    one of the listed categories (a persona without that variable does not qualify)."""
    return all(demographics.get(v) in allowed for v, allowed in (term.get("applies_to") or {}).items())


@frozen
class Schedule:
    """A stage schedule compiled to arrays for fast sampling."""

    years: float
    stages: tuple[str, ...]
    stage_edges: np.ndarray  # from_years of each stage, descending
    median_notes: float
    sigma: float
    min_notes: int
    max_notes: int
    bin_from: np.ndarray
    bin_to: np.ndarray
    bin_p: np.ndarray
    note_types: tuple[str, ...]
    note_type_p: np.ndarray  # (n_stages, n_types)
    mentions: np.ndarray  # (n_stages,)
    labels: tuple[str, ...]
    category_p: np.ndarray  # (n_stages, n_labels)
    terms: tuple[tuple[tuple[RequiredTerm, ...], ...], ...]  # [stage][label] -> plausible terms
    applies_to: dict[str, dict[str, frozenset[str]]] = field(factory=dict, hash=False)  # term id -> restriction
    _pools: dict[tuple, Any] = field(factory=dict, hash=False, eq=False, init=False)

    def pools(self, demographics: Mapping[str, str]) -> tuple[tuple[tuple[RequiredTerm, ...], ...], ...]:
        """The plausible terms by stage and label that apply to a persona with these demographics (a term
        restricted on a variable the persona does not carry does not apply)."""
        if not self.applies_to:
            return self.terms
        variables = sorted({v for rule in self.applies_to.values() for v in rule})
        key = tuple(demographics.get(v) for v in variables)
        if key not in self._pools:
            rules = {term_id: {"applies_to": rule} for term_id, rule in self.applies_to.items()}
            self._pools[key] = tuple(
                tuple(tuple(t for t in pool if term_applies(rules.get(t.term_id, {}), demographics)) for pool in stage)
                for stage in self.terms
            )
        return self._pools[key]

    @classmethod
    def compile(cls, disease: DiseasePack) -> Schedule:
        sched = disease.schedule
        stages = tuple(disease.stages)
        labels = tuple(disease.labels)
        bins = sched["visit_weights_by_year"]
        width = np.array([b["from_years"] - b["to_years"] for b in bins], dtype=float)
        weight = np.array([b["weight"] for b in bins], dtype=float) * width
        types = tuple(sched["note_types"]["types"])
        nt = np.array([[sched["note_types"]["by_stage"][s].get(t, 0.0) for t in types] for s in stages])
        cp = np.array([[sched["category_proportions"]["by_stage"][s].get(lb, 0.0) for lb in labels] for s in stages])
        rank = {s: i for i, s in enumerate(stages)}
        terms = []
        for si in range(len(stages)):
            per_label = []
            for lb in labels:
                per_label.append(
                    tuple(
                        RequiredTerm(label=lb, term_id=t["id"], term=t["term"])
                        for t in disease.lexicon["terms"]
                        if t["label"] == lb and rank[t["earliest_stage"]] <= si
                    )
                )
            terms.append(tuple(per_label))
        npp = sched["notes_per_patient"]
        return cls(
            years=float(sched["years_before_diagnosis"]),
            stages=stages,
            stage_edges=np.array([w["from_years"] for w in sched["stages"]], dtype=float),
            median_notes=float(npp["median"]),
            sigma=float(npp["sigma"]),
            min_notes=int(npp["min"]),
            max_notes=int(npp["max"]),
            bin_from=np.array([b["from_years"] for b in bins], dtype=float),
            bin_to=np.array([b["to_years"] for b in bins], dtype=float),
            bin_p=weight / weight.sum(),
            note_types=types,
            note_type_p=nt / nt.sum(axis=1, keepdims=True),
            mentions=np.array([sched["mentions_per_note"]["by_stage"][s] for s in stages], dtype=float),
            labels=labels,
            category_p=cp / cp.sum(axis=1, keepdims=True),
            terms=tuple(terms),
            applies_to={
                t["id"]: {v: frozenset(c) for v, c in t["applies_to"].items()}
                for t in disease.lexicon["terms"]
                if t.get("applies_to")
            },
        )

    def stage_index(self, years_before: np.ndarray) -> np.ndarray:
        """Stage of each visit: the last stage whose window starts at or before that time."""
        # edges descending (10, 6, 3, 1): a visit at t belongs to stage i where edge[i] >= t > edge[i+1]
        idx = np.searchsorted(-self.stage_edges, -years_before, side="left") - 1
        return np.clip(idx, 0, len(self.stages) - 1)


applies = term_applies  # the name before API 1.1 (internal)


class StageScheduleSampler(TrajectorySampler):
    """Note histories from the pack's schedule. Options: ``notes`` (fixed count per patient)."""

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "notes": {
                "type": "integer",
                "minimum": 1,
                "description": "fixed notes per patient (no default: unset, each patient's "
                "count is drawn from the pack's schedule)",
            }
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._compiled: dict[str, Schedule] = {}

    def schedule(self, disease: DiseasePack) -> Schedule:
        if disease.name not in self._compiled:
            self._compiled[disease.name] = Schedule.compile(disease)
        return self._compiled[disease.name]

    def plan(self, persona: Persona, disease: DiseasePack, seed: int, ctx: RunContext) -> list[NotePlan]:
        s = self.schedule(disease)
        multiplier = float(self.multiplier)
        rng = np.random.default_rng(seed)
        n = self.options.get("notes") or int(
            np.clip(np.rint(s.median_notes * np.exp(s.sigma * rng.standard_normal())), s.min_notes, s.max_notes)
        )
        b = rng.choice(len(s.bin_p), size=n, p=s.bin_p)
        t = s.bin_to[b] + (s.bin_from[b] - s.bin_to[b]) * rng.random(n)
        t = np.sort(np.round(t, 3))[::-1]  # oldest first
        t = np.maximum(t, 0.001)
        st = s.stage_index(t)
        u = rng.random(n)
        type_cdf = np.cumsum(s.note_type_p, axis=1)
        types = (u[:, None] > type_cdf[st]).sum(axis=1).clip(max=len(s.note_types) - 1)
        mentions = rng.poisson(s.mentions[st] * multiplier)
        prov = ctx.provenance(self, seed)
        pools = s.pools(persona.demographics)
        plans = []
        for i in range(n):
            si = int(st[i])
            required = self._terms(pools, s.category_p[si], si, int(mentions[i]), rng)
            plans.append(
                NotePlan(
                    id=f"{persona.id}-n{i:03d}",
                    persona_id=persona.id,
                    index=i,
                    years_before_diagnosis=float(t[i]),
                    note_type=s.note_types[int(types[i])],
                    stage=s.stages[si],
                    n_mentions=len(required),
                    required_terms=required,
                    provenance=prov,
                )
            )
        return plans

    @staticmethod
    def _terms(
        pools: tuple[tuple[tuple[RequiredTerm, ...], ...], ...],
        category_p: np.ndarray,
        si: int,
        k: int,
        rng: np.random.Generator,
    ) -> tuple[RequiredTerm, ...]:
        if k == 0:
            return ()
        available = np.array([len(x) > 0 for x in pools[si]])
        p = np.where(available, category_p, 0.0)
        if p.sum() <= 0:
            return ()  # no term of any category applies to this persona at this stage
        p /= p.sum()
        counts = rng.multinomial(k, p)
        out: list[RequiredTerm] = []
        for li, c in enumerate(counts):
            if not c:
                continue
            pool = pools[si][li]
            picks = rng.choice(len(pool), size=int(c), replace=int(c) > len(pool))
            out.extend(pool[j] for j in picks)
        return tuple(out)

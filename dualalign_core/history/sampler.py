"""The generic timeline planner: a patient's medications, measurements, social state, events and clinicians,
sampled from the disease pack's ``history`` table and the patient's note plans. Pure and seeded.

Time runs on a grid of ``step_years`` from the start of the history to diagnosis. On it: problems begin
(``problems``, yearly onset rates by stage) and become new diagnoses; each condition the patient has (a risk
factor or a problem with a ``conditions`` entry) is treated with probability ``p_treated`` by a drug drawn by
weight, whose dose changes and which may be stopped with a reason; social dimensions move between states at
yearly rates by stage (``requires`` ties a state to another dimension's, ``implied_by_terms`` makes a state
hold from the first note that plans a term implying it, e.g. *stopped driving*); events happen at yearly rates
by stage. Vitals drift from a per-patient baseline; disease scores follow the stage means with a per-patient
offset and test-retest noise, given at a note with the probability its note type gives them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dualalign_core.history.timeline import (
    Clinician,
    DoseChange,
    Event,
    Measurement,
    Medication,
    SocialChange,
    Timeline,
)
from dualalign_core.records import NotePlan, Persona, Provenance


def _p(rate_per_year: float, step: float) -> float:
    """Probability of at least one occurrence in ``step`` years at a yearly rate."""
    return 1.0 - math.exp(-max(0.0, rate_per_year) * step)


def _pick(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    keys = sorted(weights)
    p = np.array([float(weights[k]) for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


class TimelinePlanner:
    """Samples timelines for one disease pack (its ``history`` table and stage schedule)."""

    def __init__(self, disease: Any) -> None:
        self.disease = disease
        self.doc: Mapping[str, Any] = disease.history or {}
        sched = disease.schedule
        self.years = float(sched["years_before_diagnosis"])
        self.edges = [(float(w["from_years"]), w["id"]) for w in sched["stages"]]
        self.step = float(self.doc.get("step_years", 0.25))

    def stage_at(self, t: float) -> str:
        """The stage whose window holds ``t`` (the last one whose start is at or before it)."""
        stage = self.edges[0][1]
        for start, sid in self.edges:
            if t <= start:
                stage = sid
        return stage

    def _grid(self, start: float) -> list[float]:
        n = int(math.floor(start / self.step))
        return [start - i * self.step for i in range(n + 1) if start - i * self.step > 0]

    # -- the timeline --------------------------------------------------------------------------------
    def plan(
        self, persona: Persona, plans: Sequence[NotePlan], seed: int, provenance: Provenance | None = None
    ) -> Timeline:
        rng = np.random.default_rng(seed)
        start = max([self.years, *(p.years_before_diagnosis for p in plans)])
        grid = self._grid(start)
        events, onsets = self._problems(rng, grid)
        events += self._events(rng, grid)
        conditions: list[tuple[str, float | None]] = [(r, None) for r in persona.risk_factors]
        conditions += onsets
        medications = self._medications(rng, conditions, start, grid)
        social = self._social(rng, persona, plans, grid)
        clinicians, authors = self._clinicians(rng, persona, plans)
        measurements = self._measurements(rng, plans, start)
        events.sort(key=lambda e: (-e.years_before_diagnosis, e.kind))
        return Timeline(
            persona_id=persona.id,
            medications=medications,
            measurements=measurements,
            social=social,
            events=events,
            clinicians=clinicians,
            note_authors=authors,
            provenance=provenance,
        )

    def _problems(self, rng: np.random.Generator, grid: list[float]) -> tuple[list[Event], list[tuple[str, float]]]:
        events, onsets = [], []
        for problem in self.doc.get("problems", ()):
            for t in grid:
                if rng.random() < _p(problem["onset_per_year_by_stage"].get(self.stage_at(t), 0.0), self.step):
                    when = round(t - self.step * rng.random(), 3)
                    onsets.append((problem["id"], when))
                    events.append(Event("new_diagnosis", "new diagnosis", when, f"new diagnosis of {problem['title']}"))
                    break
        return events, onsets

    def _events(self, rng: np.random.Generator, grid: list[float]) -> list[Event]:
        out = []
        for spec in self.doc.get("events", ()):
            for t in grid:
                rate = spec["rate_per_year_by_stage"].get(self.stage_at(t), 0.0)
                for _ in range(int(rng.poisson(rate * self.step))):
                    when = round(t - self.step * rng.random(), 3)
                    if when > 0:
                        detail = spec["details"][int(rng.integers(len(spec["details"])))]
                        out.append(Event(spec["id"], spec["title"], when, detail, spec.get("label")))
        return out

    def _medications(
        self, rng: np.random.Generator, conditions: list[tuple[str, float | None]], start: float, grid: list[float]
    ) -> list[Medication]:
        table = self.doc.get("conditions", {})
        meds: list[Medication] = []
        taken: set[str] = set()
        for condition, onset in conditions:
            spec = table.get(condition)
            if spec is None or condition in taken or rng.random() >= spec["p_treated"]:
                continue
            taken.add(condition)
            drug = spec["drugs"][int(rng.choice(len(spec["drugs"]), p=_weights(spec["drugs"])))]
            began = round(start + 0.5 + 4.5 * rng.random(), 3) if onset is None else round(max(onset - 0.05, 0.01), 3)
            level = int(rng.integers(len(drug["doses"]))) if onset is None else 0
            doses = [DoseChange(began, drug["doses"][level], "started")]
            stop = reason = None
            for t in (g for g in grid if g < began):
                if rng.random() < _p(spec.get("p_stop_per_year", 0.0), self.step):
                    stop, reason = round(t, 3), spec["stop_reasons"][int(rng.integers(len(spec["stop_reasons"])))]
                    break
                if len(drug["doses"]) > 1 and rng.random() < _p(spec.get("p_dose_change_per_year", 0.0), self.step):
                    up = level + 1 < len(drug["doses"]) and (level == 0 or rng.random() < 0.6)
                    level = level + 1 if up else level - 1
                    doses.append(DoseChange(round(t, 3), drug["doses"][level], "increased" if up else "reduced"))
            meds.append(
                Medication(
                    id=f"{drug['drug']}-{len(meds)}",
                    drug=drug["drug"],
                    drug_class=drug["class"],
                    indication=condition,
                    start=began,
                    doses=doses,
                    stop=stop,
                    stop_reason=reason,
                )
            )
        return meds

    def _social(
        self, rng: np.random.Generator, persona: Persona, plans: Sequence[NotePlan], grid: list[float]
    ) -> list[SocialChange]:
        dims = list(self.doc.get("social", ()))
        if not dims or not grid:
            return []
        state: dict[str, str] = {}
        changes: list[SocialChange] = []
        first = grid[0]
        for dim in dims:
            forced = next(
                (
                    dim["initial_if_risk_factor"][r]
                    for r in persona.risk_factors
                    if r in dim.get("initial_if_risk_factor", {})
                ),
                None,
            )
            allowed = {s: w for s, w in dim["initial"].items() if self._allowed(dim, s, state)}
            state[dim["id"]] = forced or _pick(rng, allowed or dim["initial"])
            changes.append(SocialChange(dim["id"], state[dim["id"]], first, dim["states"][state[dim["id"]]]["text"]))
        must = self._implied(dims, plans)
        for t in grid[1:]:
            for dim in dims:
                did, now = dim["id"], state[dim["id"]]
                target = must.get(did)
                when = t
                if target is not None and t <= target[1] and now != target[0]:
                    nxt: str | None = target[0]
                    when = target[1]  # from the implying note on, not from the next grid point (after it)
                else:
                    if target is not None and now == target[0] and t <= target[1]:
                        continue  # held from the note that implies it on
                    rates = dim.get("transitions_per_year_by_stage", {}).get(self.stage_at(t), {}).get(now, {})
                    nxt = None
                    for to in sorted(rates):
                        if self._allowed(dim, to, state) and rng.random() < _p(rates[to], self.step):
                            nxt = to
                            break
                if nxt is not None and nxt != now:
                    state[did] = nxt
                    changes.append(SocialChange(did, nxt, round(when, 3), dim["states"][nxt]["text"]))
        for dim in dims:  # an implying note after the last grid point (in the last step before diagnosis)
            target = must.get(dim["id"])
            if target is not None and state[dim["id"]] != target[0]:
                state[dim["id"]] = target[0]
                changes.append(
                    SocialChange(dim["id"], target[0], round(target[1], 3), dim["states"][target[0]]["text"])
                )
        return changes

    @staticmethod
    def _allowed(dim: Mapping[str, Any], to: str, state: Mapping[str, str]) -> bool:
        need = dim.get("requires", {}).get(to, {})
        return all(state.get(other) in values for other, values in need.items() if other in state)

    @staticmethod
    def _implied(dims: Sequence[Mapping[str, Any]], plans: Sequence[NotePlan]) -> dict[str, tuple[str, float]]:
        """Dimension -> (state, time from which it must hold): the earliest note planning a term implying it."""
        out: dict[str, tuple[str, float]] = {}
        for dim in dims:
            implied = dim.get("implied_by_terms", {})
            for plan in plans:  # oldest first
                hit = next((implied[t.term_id] for t in plan.required_terms if t.term_id in implied), None)
                if hit is not None:
                    out[dim["id"]] = (hit, plan.years_before_diagnosis + 0.01)
                    break
        return out

    def _clinicians(
        self, rng: np.random.Generator, persona: Persona, plans: Sequence[NotePlan]
    ) -> tuple[list[Clinician], list[tuple[str, str]]]:
        spec = self.doc.get("clinicians", {})
        roles, per_role, styles = spec.get("roles", {}), spec.get("per_role", {}), spec.get("style", {})
        pool: dict[str, list[Clinician]] = {}
        for note_type in sorted({p.note_type for p in plans}):
            role = roles.get(note_type, self.disease.note_type_title(note_type) + " clinician")
            pool[note_type] = [
                Clinician(
                    id=f"{persona.id}-{note_type}-{i}",
                    role=role,
                    note_types=(note_type,),
                    style=tuple(
                        (dim, values[int(rng.integers(len(values)))]) for dim, values in sorted(styles.items())
                    ),
                )
                for i in range(max(1, int(per_role.get(note_type, 1))))
            ]
        authors = [(p.id, pool[p.note_type][int(rng.integers(len(pool[p.note_type])))].id) for p in plans]
        return [c for nt in sorted(pool) for c in pool[nt]], authors

    def _measurements(self, rng: np.random.Generator, plans: Sequence[NotePlan], start: float) -> list[Measurement]:
        out: list[Measurement] = []
        base = {v["id"]: float(rng.normal(v["mean"], v["sd_between"])) for v in self.doc.get("vitals", ())}
        offset = {s["id"]: float(rng.standard_normal()) for s in self.doc.get("scores", ())}
        for plan in plans:
            t = plan.years_before_diagnosis
            for v in self.doc.get("vitals", ()):
                value = (
                    base[v["id"]] + self._drift(v["drift_per_year_by_stage"], start, t) + rng.normal(0, v["sd_visit"])
                )
                value = float(np.clip(round(value), v["min"], v["max"]))
                out.append(Measurement(v["id"], v["title"], "vital", t, value, v.get("unit", ""), None, plan.id))
            for s in self.doc.get("scores", ()):
                if rng.random() >= s.get("given_at", {}).get(plan.note_type, 0.0):
                    continue
                mean = self._score_mean(s["mean_by_stage"], t)
                value = mean + offset[s["id"]] * s["sd_between"] + rng.normal(0, s["sd_visit"])
                value = float(np.clip(round(value), 0, s["maximum"]))
                out.append(Measurement(s["id"], s["title"], "score", t, value, "", float(s["maximum"]), plan.id))
        return out

    def _drift(self, per_year: Mapping[str, float], start: float, t: float) -> float:
        total, u = 0.0, start
        while u > t:
            width = min(self.step, u - t)
            total += per_year.get(self.stage_at(u), 0.0) * width
            u -= width
        return total

    def _score_mean(self, by_stage: Mapping[str, float], t: float) -> float:
        """Stage means placed at each stage window's middle, linear between them (flat beyond the ends)."""
        bounds = [*(s for s, _ in self.edges), 0.0]
        mids = [((bounds[i] + bounds[i + 1]) / 2, by_stage[sid]) for i, (_, sid) in enumerate(self.edges)]
        if t >= mids[0][0]:
            return float(mids[0][1])
        for (t0, v0), (t1, v1) in zip(mids, mids[1:], strict=False):
            if t1 <= t <= t0:
                return float(v0 + (v1 - v0) * (t0 - t) / (t0 - t1))
        return float(mids[-1][1])


_PLANNERS: dict[int, tuple[Any, TimelinePlanner]] = {}


def planner_for(disease: Any) -> TimelinePlanner:
    """The planner of a pack (built once per pack object)."""
    cached = _PLANNERS.get(id(disease))
    if cached is None or cached[0] is not disease:
        cached = (disease, TimelinePlanner(disease))
        _PLANNERS[id(disease)] = cached
    return cached[1]


def _weights(items: Sequence[Mapping[str, Any]]) -> np.ndarray:
    w = np.array([float(i["weight"]) for i in items])
    return w / w.sum()


__all__ = ["TimelinePlanner", "planner_for"]

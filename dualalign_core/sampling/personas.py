"""Persona source driven by prevalence tables, vectorised with numpy (a million personas in seconds)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
from attrs import frozen

from dualalign_core.components import PersonaSource
from dualalign_core.records import Persona
from dualalign_core.sampling.tables import factors_from_table, rate_lookup

if TYPE_CHECKING:
    from dualalign_core.context import RunContext
    from dualalign_core.disease import DiseasePack

BAND = re.compile(r"^(\d+)\s*[-\u2013]\s*(\d+)$|^(\d+)\s*\+$")
OPEN_BAND_SPAN = 15  # "85+" spans 85..99 with ages drawn from a decreasing (geometric) profile
OPEN_BAND_DECAY = 0.8


@frozen
class CohortColumns:
    """A sampled cohort as columns: category codes per demographic variable, ages, risk-factor flags."""

    variables: dict[str, list[str]]
    codes: dict[str, np.ndarray]
    ages: np.ndarray
    risk_ids: tuple[str, ...]
    risk: np.ndarray  # (n, n_risk) bool

    def __len__(self) -> int:
        return len(self.ages)

    def values(self, variable: str) -> np.ndarray:
        return np.asarray(self.variables[variable], dtype=object)[self.codes[variable]]


def sample_ages(bands: list[str], codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer ages within each persona's age band ("65-74": uniform; "85+": decreasing profile)."""
    ages = np.zeros(len(codes), dtype=np.int64)
    for i, band in enumerate(bands):
        mask = codes == i
        k = int(mask.sum())
        if not k:
            continue
        m = BAND.match(band.strip())
        if m is None:
            raise ValueError(f"age band {band!r} is not 'A-B' or 'A+'")
        if m.group(3):
            lo = int(m.group(3))
            w = OPEN_BAND_DECAY ** np.arange(OPEN_BAND_SPAN)
            ages[mask] = lo + rng.choice(OPEN_BAND_SPAN, size=k, p=w / w.sum())
        else:
            lo, hi = int(m.group(1)), int(m.group(2))
            ages[mask] = rng.integers(lo, hi + 1, size=k)
    return ages


def sample_columns(
    demographics: dict[str, Any], risk_factors: dict[str, Any], n: int, rng: np.random.Generator
) -> CohortColumns:
    """Sample ``n`` personas: demographic factors in order, then each risk factor given demographics."""
    variables = {k: list(v) for k, v in demographics["variables"].items()}
    codes: dict[str, np.ndarray] = {}
    for f in factors_from_table(demographics):
        combo_codes = np.zeros(n, dtype=np.int64)
        if not f.given:
            combo_codes = _draw(rng, f.probs[0], n)
        else:
            gidx = _combo_index(f.given, variables, codes)
            for g in range(len(f.given_combos)):
                mask = gidx == g
                k = int(mask.sum())
                if k:
                    combo_codes[mask] = _draw(rng, f.probs[g], k)
        # unpack joint value combos into per-variable codes
        table = np.array([[variables[v].index(c[j]) for j, v in enumerate(f.variables)] for c in f.value_combos])
        for j, v in enumerate(f.variables):
            codes[v] = table[combo_codes, j]
    ages = (
        sample_ages(variables["age_band"], codes["age_band"], rng)
        if "age_band" in variables
        else np.zeros(n, dtype=np.int64)
    )
    factors = risk_factors["factors"]
    risk = np.zeros((n, len(factors)), dtype=bool)
    draws = rng.random((n, len(factors)))
    for j, factor in enumerate(factors):
        given, rates = rate_lookup(factor)
        if not given:
            risk[:, j] = draws[:, j] < rates[()]
            continue
        gidx = _combo_index(given, variables, codes)
        combos = _combos(given, variables)
        rate_arr = np.array([rates[c] for c in combos])
        risk[:, j] = draws[:, j] < rate_arr[gidx]
    return CohortColumns(variables, codes, ages, tuple(f["id"] for f in factors), risk)


def allocate(n: int, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts summing to ``n`` with E[count] = n*p: floors plus the remainder drawn by fractional parts."""
    expected = n * np.asarray(p, dtype=float)
    counts = np.floor(expected).astype(np.int64)
    rest = n - int(counts.sum())
    if rest > 0:
        frac = expected - counts
        picks = rng.choice(len(p), size=rest, replace=False, p=frac / frac.sum())
        counts[picks] += 1
    return counts


def sample_columns_stratified(
    demographics: dict[str, Any], risk_factors: dict[str, Any], n: int, rng: np.random.Generator
) -> CohortColumns:
    """Quota sampling: demographic cells and risk-factor counts per stratum match the targets to rounding.

    Cells of the full demographic joint get ``allocate``d counts (shuffled), and each risk factor is given
    to exactly round(rate x stratum size) randomly chosen personas of each conditioning stratum. Marginals
    then sit within 1/n of the target instead of the ~1/sqrt(n) sampling noise of i.i.d. draws.
    """
    from dualalign_core.sampling.tables import target_joint

    variables = {k: list(v) for k, v in demographics["variables"].items()}
    order, joint = target_joint(demographics)
    cells = list(joint)
    counts = allocate(n, np.array([joint[c] for c in cells]), rng)
    cell_of = rng.permutation(np.repeat(np.arange(len(cells)), counts))
    table = np.array([[variables[v].index(c[j]) for j, v in enumerate(order)] for c in cells])
    codes = {v: table[cell_of, j] for j, v in enumerate(order)}
    ages = (
        sample_ages(variables["age_band"], codes["age_band"], rng)
        if "age_band" in variables
        else np.zeros(n, dtype=np.int64)
    )
    factors = risk_factors["factors"]
    risk = np.zeros((n, len(factors)), dtype=bool)
    for j, factor in enumerate(factors):
        given, rates = rate_lookup(factor)
        gidx = _combo_index(given, variables, codes) if given else np.zeros(n, dtype=np.int64)
        combos = _combos(given, variables) if given else [()]
        for g, combo in enumerate(combos):
            members = np.flatnonzero(gidx == g)
            m = len(members)
            if not m:
                continue
            expected = m * rates[combo]
            k = int(np.floor(expected)) + int(rng.random() < expected - np.floor(expected))
            if k:
                chosen = members[np.argpartition(rng.random(m), k - 1)[:k]] if k < m else members
                risk[chosen, j] = True
    return CohortColumns(variables, codes, ages, tuple(f["id"] for f in factors), risk)


def _draw(rng: np.random.Generator, p: np.ndarray, k: int) -> np.ndarray:
    """Inverse-CDF categorical draws (faster than ``rng.choice`` for large k)."""
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(k), side="right")


def _combos(given: tuple[str, ...], variables: dict[str, list[str]]) -> list[tuple[str, ...]]:
    import itertools

    return list(itertools.product(*(variables[g] for g in given)))


def _combo_index(given: tuple[str, ...], variables: dict[str, list[str]], codes: dict[str, np.ndarray]) -> np.ndarray:
    """Row-major index of each persona's combination of ``given`` categories."""
    idx = np.zeros(len(next(iter(codes.values()))), dtype=np.int64)
    for g in given:
        idx = idx * len(variables[g]) + codes[g]
    return idx


def to_personas(cols: CohortColumns, ctx: RunContext, component: Any, seed: int, id_width: int = 5) -> list[Persona]:
    """Turn columns into Persona records (ids ``p00000``…)."""
    names = list(cols.variables)
    values = {v: cols.values(v) for v in names}
    width = max(id_width, len(str(len(cols) - 1)))
    prov = ctx.provenance(component, seed)
    risk_ids = np.asarray(cols.risk_ids, dtype=object)
    out = []
    for i in range(len(cols)):
        out.append(
            Persona(
                id=f"p{i:0{width}d}",
                age=int(cols.ages[i]),
                demographics={v: str(values[v][i]) for v in names},
                risk_factors=tuple(risk_ids[cols.risk[i]]),
                provenance=prov,
            )
        )
    return out


class PrevalencePersonaSource(PersonaSource):
    """Personas from the disease pack's demographics and risk-factor tables.

    Option ``method``: ``stratified`` (default; quota sampling, marginals exact to rounding) or ``iid``.
    """

    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"method": {"enum": ["stratified", "iid"], "default": "stratified"}},
    }

    def sample(self, disease: DiseasePack, n: int, seed: int, ctx: RunContext) -> list[Persona]:
        return to_personas(self.columns(disease, n, seed), ctx, self, seed)

    def columns(self, disease: DiseasePack, n: int, seed: int) -> CohortColumns:
        rng = np.random.default_rng(seed)
        sampler = sample_columns if self.options["method"] == "iid" else sample_columns_stratified
        return sampler(disease.demographics, disease.risk_factors, n, rng)

"""Prevalence tables as arrays: (conditional) categorical factors and risk-factor rates."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import frozen


@frozen
class Factor:
    """A categorical distribution over ``variables`` given ``given``, as a probability array.

    ``probs`` has shape (n_given_combos, n_value_combos); rows sum to 1.
    """

    id: str
    variables: tuple[str, ...]
    given: tuple[str, ...]
    value_combos: tuple[tuple[str, ...], ...]
    given_combos: tuple[tuple[str, ...], ...]
    probs: np.ndarray


def factors_from_table(doc: Mapping[str, Any]) -> list[Factor]:
    """Parse a demographics table into factors (validated tables only)."""
    variables = doc["variables"]
    out = []
    for f in doc["factors"]:
        vs, gs = tuple(f["variables"]), tuple(f.get("given", []))
        value_combos = tuple(itertools.product(*(variables[v] for v in vs)))
        given_combos = tuple(itertools.product(*(variables[g] for g in gs)))
        probs = np.zeros((len(given_combos), len(value_combos)))
        vi = {c: i for i, c in enumerate(value_combos)}
        gi = {c: i for i, c in enumerate(given_combos)}
        for row in f["rows"]:
            v = tuple(row["values"][x] for x in vs)
            g = tuple(row.get("given", {}).get(x) for x in gs)
            probs[gi[g], vi[v]] = row["p"]
        probs /= probs.sum(axis=1, keepdims=True)
        out.append(Factor(f["id"], vs, gs, value_combos, given_combos, probs))
    return out


def target_joint(doc: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[tuple[str, ...], float]]:
    """The full joint distribution over every demographic variable implied by the factor chain."""
    variables = doc["variables"]
    order = tuple(variables)
    joint: dict[tuple[str, ...], float] = {}
    factors = factors_from_table(doc)
    for combo in itertools.product(*(variables[v] for v in order)):
        assign = dict(zip(order, combo, strict=True))
        p = 1.0
        for f in factors:
            g = f.given_combos.index(tuple(assign[x] for x in f.given))
            v = f.value_combos.index(tuple(assign[x] for x in f.variables))
            p *= f.probs[g, v]
        joint[combo] = p
    return order, joint


def marginal(
    order: tuple[str, ...], joint: Mapping[tuple[str, ...], float], variables: tuple[str, ...]
) -> dict[tuple[str, ...], float]:
    idx = [order.index(v) for v in variables]
    out: dict[tuple[str, ...], float] = {}
    for combo, p in joint.items():
        key = tuple(combo[i] for i in idx)
        out[key] = out.get(key, 0.0) + p
    return out


def rate_lookup(factor: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[tuple[str, ...], float]]:
    """A risk factor's rate by the combination of its ``given`` variables (``()`` if unconditional)."""
    if "rate" in factor:
        return (), {(): float(factor["rate"])}
    given = tuple(factor["given"])
    return given, {tuple(r["given"][g] for g in given): float(r["rate"]) for r in factor["rates"]}


def expected_rate(factor: Mapping[str, Any], order: tuple[str, ...], joint: Mapping[tuple[str, ...], float]) -> float:
    """The population rate of a risk factor under the demographic joint."""
    given, rates = rate_lookup(factor)
    if not given:
        return rates[()]
    m = marginal(order, joint, given)
    return float(sum(p * rates[k] for k, p in m.items()))


def tvd(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """Total variation distance between two distributions given as dicts."""
    keys = set(p) | set(q)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys)

"""Small values every record module shares: provenance and the tuple converters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attrs import frozen


def as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
    """``tuple`` as an attrs converter (mypy's attrs plugin cannot type a generic class as a converter)."""
    return tuple(items)


def as_frozenset(items: Iterable[Any]) -> frozenset[Any]:
    """``frozenset`` as an attrs converter (see :func:`as_tuple`)."""
    return frozenset(items)


@frozen
class Provenance:
    """Who made a record, from which seed, with which model and prompt."""

    run_id: str
    seed: int
    component: str
    plugin: str
    plugin_version: str
    model: str | None = None
    prompt_hash: str | None = None


__all__ = ["Provenance", "as_frozenset", "as_tuple"]

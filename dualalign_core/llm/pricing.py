"""Token prices as data (USD per 1M tokens, with source URL and date read) and cost per call.

A vendor plugin ships its own table (``LLMBackend.prices``, usually read by :func:`package_prices` from a
``prices.json`` in the plugin's package); the core's ``prices.json`` is the fallback for models it lacks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from attrs import frozen

PER = 1_000_000


def usd(amount: float) -> str:
    """Dollars with the precision the amount needs: ``$20.00``, ``$0.001``, ``$0.000123`` (never ``$0.00``
    for a budget that is not zero)."""
    if amount == round(amount, 2):
        return f"${amount:.2f}"
    text = f"{amount:.6f}".rstrip("0").rstrip(".")
    if float(text) == 0:  # below a millionth: every digit up to the first significant one ($0.000000001)
        text = format(Decimal(repr(amount)), "f")
    return "$" + text


@frozen
class Price:
    """USD per 1M tokens. Cached reads, cache writes and batch rates default to the plain rates."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    source: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Price:
        keys = ("input", "output", "cached_input", "cache_write", "batch_input", "batch_output", "source")
        return cls(**{k: d[k] for k in keys if k in d})

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        *,
        batch: bool = False,
    ) -> float:
        """Dollars for one call. ``input_tokens`` includes the cached ones (OpenAI's convention); batch
        pricing scales cached and cache-write rates by the same batch discount."""
        inp = self.batch_input if batch and self.batch_input is not None else self.input
        out = self.batch_output if batch and self.batch_output is not None else self.output
        scale = inp / self.input if self.input else 1.0
        cached = (self.cached_input if self.cached_input is not None else self.input) * scale
        write = (self.cache_write if self.cache_write is not None else self.input) * scale
        plain = max(0, input_tokens - cached_input_tokens - cache_write_tokens)
        dollars = plain * inp + cached_input_tokens * cached + cache_write_tokens * write + output_tokens * out
        return round(dollars / PER, 10)


FREE = Price(0.0, 0.0)


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """The packaged price table (models, and sources with URL and date read)."""
    text = resources.files("dualalign_core.llm").joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def package_prices(package: str, resource: str = "prices.json") -> dict[str, Price]:
    """A plugin's price table: ``{"models": {name: {input, output, ...}}}`` in ``resource`` of ``package``
    (the file may also hold ``unit`` and a ``source`` with URL and date read)."""
    doc = json.loads(resources.files(package).joinpath(resource).read_text(encoding="utf-8"))
    source = doc.get("source", {}).get("url") if isinstance(doc.get("source"), dict) else doc.get("source")
    return {name: Price.from_dict({"source": source, **entry}) for name, entry in doc["models"].items()}


def _match(model: str, names: Mapping[str, Any]) -> str | None:
    """An exact entry, else the longest entry ``model`` starts with (``gpt-4o-2024-08-06`` -> ``gpt-4o``)."""
    if model in names:
        return model
    return max((k for k in names if model.startswith(k + "-") or model.startswith(k + "@")), key=len, default=None)


def lookup(model: str, vendor: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: the vendor plugin's table first, then the core's; exact entries, else the
    longest prefix (dated snapshots). None for models neither knows (local servers)."""
    if vendor:
        name = _match(model, vendor)
        if name is not None:
            return vendor[name]
    models = price_table()["models"]
    best = _match(model, models)
    return Price.from_dict(models[best]) if best else None


def price_for(
    model: str, override: dict[str, Any] | None = None, vendor: Mapping[str, Price] | None = None
) -> Price | None:
    """A backend's ``price`` option wins over the vendor's table and the core's (use ``{input = 0, output = 0}``
    for a local model)."""
    if override:
        return Price.from_dict(override)
    return lookup(model, vendor)

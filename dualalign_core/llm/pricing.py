"""Token prices as data (``prices.json``: USD per 1M tokens, with source URL and date read) and cost per call."""

from __future__ import annotations

import json
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
    return "$" + f"{amount:.6f}".rstrip("0").rstrip(".")


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

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0,
             cache_write_tokens: int = 0, *, batch: bool = False) -> float:
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


def lookup(model: str) -> Price | None:
    """The price of ``model``: an exact entry, else the longest entry it starts with (dated snapshots such
    as ``gpt-4o-2024-08-06`` match ``gpt-4o``). None for models the table does not know (local servers)."""
    models = price_table()["models"]
    if model in models:
        return Price.from_dict(models[model])
    best = max((k for k in models if model.startswith(k + "-") or model.startswith(k + "@")), key=len, default=None)
    return Price.from_dict(models[best]) if best else None


def price_for(model: str, override: dict[str, Any] | None = None) -> Price | None:
    """A backend's ``price`` option wins over the table (use ``{input = 0, output = 0}`` for a local model)."""
    if override:
        return Price.from_dict(override)
    return lookup(model)

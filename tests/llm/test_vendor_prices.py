"""Prices come from the vendor plugin's table, then the core's; the ``price`` option wins over both."""

from __future__ import annotations

from typing import ClassVar

from dualalign_core.llm.backend import LLMBackend
from dualalign_core.llm.pricing import FREE, Price, lookup, package_prices
from dualalign_core.llm.runtime import LLMRuntime


class Acme(LLMBackend):
    provider = "acme"
    prices: ClassVar[dict[str, Price]] = {"acme-1": Price(1.0, 2.0), "gpt-4o": Price(9.0, 9.0)}


def test_vendor_table_first_then_core_then_option():
    assert LLMRuntime(Acme(model="acme-1")).price == Price(1.0, 2.0)
    assert LLMRuntime(Acme(model="acme-1-2026-01-01")).price == Price(1.0, 2.0)  # dated snapshot by prefix
    assert LLMRuntime(Acme(model="gpt-4o")).price == Price(9.0, 9.0)  # the vendor's own figure wins
    assert LLMRuntime(Acme(model="gpt-4.1")).price == lookup("gpt-4.1")  # the core's table is the fallback
    assert LLMRuntime(Acme(model="unknown-model")).price is FREE
    priced = LLMRuntime(Acme(model="acme-1", price={"input": 3, "output": 4}))
    assert (priced.price.input, priced.price.output) == (3, 4)


def test_shipped_plugin_tables_carry_their_source():
    from dualalign_anthropic import AnthropicBackend
    from dualalign_openai import OpenAIBackend

    for cls, model, package in (
        (OpenAIBackend, "gpt-4o", "dualalign_openai"),
        (AnthropicBackend, "claude-sonnet-4-6", "dualalign_anthropic"),
    ):
        table = package_prices(package)
        assert cls.prices == table and table[model].input > 0 and table[model].source.startswith("https://")

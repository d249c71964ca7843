"""Copy-forward: how much of a note repeats the patient's previous note word for word."""

from __future__ import annotations

import re

SHINGLE = 5
"""Words per shingle: long enough that shared stock phrases ("no acute distress") rarely make a whole one."""

_WORD = re.compile(r"[a-z0-9]+(?:['/.-][a-z0-9]+)*")


def shingles(text: str, n: int = SHINGLE) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def copy_forward(previous: str, current: str, n: int = SHINGLE) -> float:
    """Share of ``current``'s word ``n``-grams that ``previous`` already has (0: nothing carried over, 1: all)."""
    now = shingles(current, n)
    if not now:
        return 0.0
    return len(now & shingles(previous, n)) / len(now)


__all__ = ["SHINGLE", "copy_forward", "shingles"]

"""Fast leftmost matching of a long ordered alternation of regexes, dispatched on the first character.

``re`` tries every alternative of ``(?:p0|p1|...|pN)`` at every start position, so a trigger list of ~200
phrases costs ~200 failed attempts per word. :class:`Alternation` gives the same matches as
``finditer`` over the single alternation (leftmost, then the first alternative in order that matches,
no overlaps), but at each candidate position tries only the alternatives that can start with the
character found there. Which characters a pattern can start with is read from its parse tree; a pattern
the analysis does not understand (or that could match the empty string) is tried everywhere, so the
result is always the one the plain alternation gives. Non-ASCII characters always get the full pattern
(case folding outside ASCII is left to ``re``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

try:  # Python >= 3.11
    import re._parser as _sre  # type: ignore[import-not-found]  # not in typeshed
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre

_DIGITS = frozenset("0123456789")
_ANY = None  # "can start with anything we cannot enumerate"


def _first(items: Sequence[tuple[Any, Any]]) -> tuple[frozenset[str] | None, bool]:
    """(lower-case ASCII first characters or None for unknown, whether the sequence can match empty)."""
    chars: set[str] = set()
    for op, av in items:
        if op is _sre.LITERAL:
            ch = chr(av)
            if not ch.isascii() or not ch.isalnum():
                return _ANY, False
            return frozenset(chars | {ch.lower()}), False
        if op is _sre.IN:
            for kind, value in av:
                if kind is _sre.LITERAL and chr(value).isascii() and chr(value).isalnum():
                    chars.add(chr(value).lower())
                elif kind is _sre.RANGE and all(
                    chr(c).isascii() and chr(c).isalnum() for c in range(value[0], value[1] + 1)
                ):
                    chars.update(chr(c).lower() for c in range(value[0], value[1] + 1))
                elif kind is _sre.CATEGORY and value is _sre.CATEGORY_DIGIT:
                    chars |= _DIGITS
                else:
                    return _ANY, False
            return frozenset(chars), False
        if op is _sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                return _ANY, False
            found, nullable = _first(sub)
        elif op is _sre.BRANCH:
            found, nullable = frozenset(), False
            for alt in av[1]:
                sub_found, sub_nullable = _first(alt)
                if sub_found is None:
                    return _ANY, False
                found, nullable = found | sub_found, nullable or sub_nullable
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            lo, _hi, sub = av
            found, nullable = _first(sub)
            nullable = nullable or lo == 0
        else:  # anchors, lookarounds, backreferences, categories outside a class...
            return _ANY, False
        if found is None:
            return _ANY, False
        chars |= found
        if not nullable:
            return frozenset(chars), False
    return frozenset(chars), True


def first_chars(pattern: str, flags: int = 0) -> frozenset[str] | None:
    """Lower-case ASCII characters a match of ``pattern`` can start with (None: unknown or possibly empty)."""
    try:
        found, nullable = _first(_sre.parse(pattern, flags))
    except Exception:  # noqa: BLE001 - an unparseable pattern is simply tried everywhere
        return None
    return None if nullable or found is None else found


class Alternation:
    """``re.compile(lead + "(?:" + "|".join(f"(?P<a{i}>{p})" ...) + ")", flags).finditer``, only faster.

    ``lead`` is a zero-width assertion shared by every alternative (a left word boundary, say); ``matches``
    yields ``(index of the alternative, match)`` pairs exactly as the single alternation would.
    """

    def __init__(self, patterns: Sequence[str], *, lead: str = "", flags: int = 0) -> None:
        self.patterns = tuple(patterns)
        self._lead, self._flags = lead, flags
        self.regex = self._compile(range(len(self.patterns)))  # the reference, and the non-ASCII path
        firsts = [first_chars(p, flags) for p in self.patterns]
        if any(f is None for f in firsts):
            self._by_char: dict[str, re.Pattern[str]] | None = None  # some pattern can start anywhere
            return
        self._by_char = {}
        for ch in sorted(set().union(*firsts)):  # type: ignore[arg-type]
            regex = self._compile(i for i, f in enumerate(firsts) if ch in f)  # type: ignore[operator]
            self._by_char[ch] = self._by_char[ch.upper()] = regex  # ASCII: either case, no lower() per word
        klass = "".join(re.escape(ch) for ch in sorted(self._by_char))
        self._starts = re.compile(f"{lead}(?:[{klass}]|[^\\x00-\\x7f])", flags)

    def _compile(self, indexes: Iterator[int] | range) -> re.Pattern[str]:
        alts = "|".join(f"(?P<a{i}>{self.patterns[i]})" for i in indexes)
        return re.compile(f"{self._lead}(?:{alts})", self._flags)

    def matches(self, text: str) -> Iterator[tuple[int, re.Match[str]]]:
        if self._by_char is None:
            for m in self.regex.finditer(text):
                yield int(m.lastgroup[1:]), m  # type: ignore[index]
            return
        by_char, full, end = self._by_char, self.regex, 0
        for start in self._starts.finditer(text):
            pos = start.start()
            if pos < end:
                continue
            ch = text[pos]
            hit = (by_char[ch] if ch.isascii() else full).match(text, pos)
            if hit is not None:  # never empty: a pattern that could match empty disables the dispatch
                end = hit.end()
                yield int(hit.lastgroup[1:]), hit  # type: ignore[index]

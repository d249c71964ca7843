"""The report's HTML pieces every section uses: formatted values, tables, images, notes (a leaf)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.3g}"
    return escape(str(v))


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else fmt(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


__all__ = ["fmt", "img", "note", "pct", "table"]

"""One patient's timeline as inline SVG (no script): events, social changes, medication courses as bars, scores
and notes on one axis of years before diagnosis; each note tick links to ``#<anchor><index>``, where the page
shows that note's text."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

Scale = Callable[[float], float]

WIDTH = 960
LEFT = 170
RIGHT = 24
LANE = 22
TOP = 10
AXIS = 34
PAD_YEARS = 0.25


def _span(p: dict[str, Any]) -> tuple[float, float]:
    """(earliest, latest) years shown: everything but medication starts (a decades-old prescription would
    squeeze the notes), padded; diagnosis (0) always in view."""
    times = [n["years"] for n in p["notes"]]
    times += [e["years"] for e in p["events"]] + [s["years"] for s in p["scores"]] + [s["years"] for s in p["social"]]
    times += [m["stop"] for m in p["medications"] if m["stop"] is not None]
    early = max([*times, 1.0])
    return early + PAD_YEARS, min([*times, 0.0])


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _event(e: dict[str, Any], x: Scale) -> str:
    tip = _title(f"{e['years']:.2f} y: {e['detail']}")
    return f'<circle cx="{x(e["years"])}" r="5" fill="#cf222e">{tip}</circle>'


def _social(s: dict[str, Any], x: Scale) -> str:
    tip = _title(f"{s['years']:.2f} y: {s['dimension']}: {s['text']}")
    return f'<rect x="{x(s["years"]) - 4}" y="-5" width="8" height="10" fill="#8250df">{tip}</rect>'


def _medication(m: dict[str, Any], x: Scale, late: float) -> list[str]:
    """A bar from start to stop (or diagnosis), a tick at each dose change."""
    start, stop = x(m["start"]), x(m["stop"] if m["stop"] is not None else late)
    doses = "; ".join(f"{d['years']:.2f} y {d['dose']} ({d['reason']})" for d in m["doses"])
    ended = f", stopped {m['stop']:.2f} y ({m['stop_reason']})" if m["stop"] is not None else ""
    tip = _title(f"{m['drug']} for {m['indication']}: {doses}{ended}")
    bar = (
        f'<rect x="{start}" y="-6" width="{max(stop - start, 2)}" height="12" rx="3" fill="#2da44e" '
        f'opacity="0.75">{tip}</rect>'
    )
    ticks = [
        f'<line x1="{x(d["years"])}" x2="{x(d["years"])}" y1="-6" y2="6" stroke="#0d1117"/>' for d in m["doses"][1:]
    ]
    return [bar, *ticks]


def _score(s: dict[str, Any], x: Scale) -> str:
    tip = _title(f"{s['years']:.2f} y: {s['value']:g}")
    cx = x(s["years"])
    return (
        f'<circle cx="{cx}" r="4" fill="#d9822b">{tip}</circle>'
        f'<text x="{cx}" y="-7" font-size="9" text-anchor="middle">{s["value"]:g}</text>'
    )


def _note(i: int, n: dict[str, Any], x: Scale, anchor: str) -> str:
    tip = _title(f"{n['years']:.2f} y: {n['note_type']} ({n['author'] or 'author unknown'})")
    return (
        f'<a href="#{anchor}{i}">{tip}<rect x="{x(n["years"]) - 2}" y="-8" width="4" height="16" fill="#1f6feb"/></a>'
    )


def render(p: dict[str, Any], anchor: str) -> str:
    """The SVG for :func:`dualalign_core.report.longitudinal.patient_timeline` output."""
    early, late = _span(p)
    plot = WIDTH - LEFT - RIGHT

    def x(years: float) -> float:
        clipped = min(max(years, late), early)
        return round(LEFT + (early - clipped) / (early - late or 1.0) * plot, 1)

    lanes: list[tuple[str, list[str]]] = [
        ("events", [_event(e, x) for e in p["events"]]),
        ("social", [_social(s, x) for s in p["social"]]),
    ]
    lanes += [(m["drug"], _medication(m, x, late)) for m in p["medications"]]
    for sid in sorted({s["id"] for s in p["scores"]}):
        pts = [s for s in p["scores"] if s["id"] == sid]
        lanes.append((pts[0]["title"], [_score(s, x) for s in pts]))
    lanes.append(("notes (open text)", [_note(i, n, x, anchor) for i, n in enumerate(p["notes"])]))
    height = TOP + LANE * len(lanes) + AXIS
    body = []
    for i, (label, items) in enumerate(lanes):
        y = TOP + LANE * i + LANE / 2
        body.append(
            f'<g transform="translate(0,{y})"><text x="{LEFT - 8}" y="4" font-size="11" text-anchor="end">'
            f'{escape(label)}</text><line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="0" y2="0" stroke="#d0d7de"/>'
            + "".join(items)
            + "</g>"
        )
    axis_y = TOP + LANE * len(lanes) + 4
    step = 1 if early - late <= 12 else 2
    ticks = []
    year = int(late)
    while year <= early:
        ticks.append(
            f'<line x1="{x(year)}" x2="{x(year)}" y1="{axis_y}" y2="{axis_y + 5}" stroke="#57606a"/>'
            f'<text x="{x(year)}" y="{axis_y + 16}" font-size="10" text-anchor="middle">{year}</text>'
        )
        year += step
    axis = (
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}" stroke="#57606a"/>'
        + "".join(ticks)
        + f'<text x="{LEFT + plot / 2}" y="{axis_y + 29}" font-size="10" text-anchor="middle">'
        "years before diagnosis (diagnosis at the right)</text>"
    )
    return (
        f'<svg class="patient-timeline" viewBox="0 0 {WIDTH} {height + 6}" width="100%" role="img" '
        f'aria-label="timeline of patient {escape(p["persona_id"])}" font-family="system-ui,sans-serif">'
        + "".join(body)
        + axis
        + "</svg>"
    )


__all__ = ["render"]

"""The scorecard as the report's top section (HTML, details expandable without scripts) and as Markdown for
``DATASET_CARD.md``; both from :meth:`Scorecard.as_dict` output."""

from __future__ import annotations

import json
from html import escape
from typing import Any

CSS = (
    ".sc-pass{color:#1a7f37;font-weight:600}.sc-warn{color:#9a6700;font-weight:600}"
    ".sc-fail{color:#cf222e;font-weight:600}.sc-na{color:#57606a}details pre{white-space:pre-wrap;"
    "font-size:.75rem;max-height:18rem;overflow:auto;background:#f6f8fa;padding:.4rem;margin:.2rem 0}"
    "td details{white-space:normal;text-align:left}"
)


def value_text(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _verdict(v: str) -> str:
    return f'<span class="sc-{"na" if v == "n/a" else v}">{escape(v)}</span>'


def _inputs_text(card: dict[str, Any]) -> str:
    ref = (card.get("inputs") or {}).get("reference")
    if not ref:
        return "No reference: realism and replay are not measured (dualalign report RUN_DIR --reference REAL.jsonl)."
    ctl = card["inputs"].get("control")
    ctl_text = f"{ctl['records']} control records" if isinstance(ctl, dict) else str(ctl)
    return f"Reference: {ref['records']} {ref['unit']} ({ref['labelled']} labelled); control: {ctl_text}."


def html_section(card: dict[str, Any] | None) -> str:
    """``<section id="scorecard">``: the overall verdict, one row per measure, detail in ``<details>``."""
    if not card:
        return ""
    rows = []
    for m in card["measures"]:
        detail = {k: v for k, v in m["detail"].items() if k != "about"}
        body = escape(json.dumps(detail, indent=1, sort_keys=True, default=str))
        about = escape(m["detail"].get("about", ""))
        rows.append(
            f"<tr><td>{escape(m['name'])}</td><td>{escape(value_text(m['value']))}</td>"
            f"<td>{escape(m['threshold_text'])}</td><td>{_verdict(m['verdict'])}</td>"
            f"<td><details><summary>{about}</summary><pre>{body}</pre></details></td></tr>"
        )
    counts = ", ".join(f"{v} {k}" for k, v in card["counts"].items() if v)
    head = "".join(f"<th>{h}</th>" for h in ("measure", "value", "threshold", "verdict", "detail"))
    return (
        f'<style>{CSS}</style><section id="scorecard"><h2>Scorecard: {_verdict(card["verdict"])}</h2>'
        f'<p class="note">{escape(counts)}. {escape(_inputs_text(card))} Thresholds and what a failing verdict '
        "means: docs/scorecard.md.</p>"
        f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        "</section>"
    )


def markdown_lines(card: dict[str, Any] | None, md: Any) -> list[str]:
    """The card's ``## Scorecard`` section (``md`` escapes untrusted text)."""
    lines = ["## Scorecard", ""]
    if not card:
        return [
            *lines,
            "Not scored: run `dualalign score RUN_DIR --reference REAL.jsonl` before exporting to add the "
            "fidelity, realism, diversity, privacy and utility verdicts here.",
            "",
        ]
    lines += [
        f"Overall verdict: **{md(card['verdict'])}** (run {md(card.get('run_id'))}). {md(_inputs_text(card))}",
        "",
        "| measure | value | threshold | verdict |",
        "|---|---|---|---|",
    ]
    for m in card["measures"]:
        note = m["detail"].get("note")
        verdict = md(m["verdict"]) + (f" ({md(note)})" if note else "")
        lines.append(f"| {md(m['name'])} | {md(value_text(m['value']))} | {md(m['threshold_text'])} | {verdict} |")
    return [*lines, ""]

"""The report's Longitudinal section (HTML) from :func:`dualalign_core.report.longitudinal.collect` output."""

from __future__ import annotations

from html import escape
from typing import Any

from dualalign_core.report import patient_svg, plots
from dualalign_core.report.markup import fmt, img, note, pct, table

NOTE_ANCHOR = "longitudinal-note-"


def section(m: dict[str, Any]) -> str:
    lg = m.get("longitudinal") or {}
    if not lg:
        return note("No longitudinal measures in these metrics.")
    parts = [
        "<h3>Contradictions by kind</h3>" + _contradictions(lg),
        "<h3>Copy-forward between consecutive notes</h3>" + _copy_forward(lg["copy_forward"]),
        "<h3>Score trajectories</h3>" + _scores(lg),
        "<h3>One patient's timeline</h3>" + _patient(lg),
    ]
    return "".join(parts)


def _contradictions(lg: dict[str, Any]) -> str:
    c = lg["contradictions"]
    if not lg["timeline"]:
        return note("no timeline: the run was planned without patient timelines, so no note was checked against one.")
    rows = [
        (
            kind.replace("_", " "),
            v["filter"] if v["checked"] else f"{v['filter']} (did not run)",
            v["ledger"],
            v["warn_only"],
            v["rejected_notes"],
            v["accepted_notes"],
            pct(v["rate"]) if v["checked"] else "not checked",
        )
        for kind, v in c["kinds"].items()
    ]
    html = table(
        [
            "kind",
            "filter",
            "ledger entries",
            "of them warn-only",
            "notes rejected for it",
            "accepted notes with it",
            "rate (accepted)",
        ],
        rows,
    )
    return html + note(
        f"{c['checked']} notes checked (accepted notes with a timeline context); accepted notes with any "
        f"contradiction: {pct(c['any_rate'])}. Kinds come from the consistency filter's reasons "
        "('<kind>: <detail>'); symptom regression is temporal_regression. Rates count the verdicts on each "
        "note's final attempt that let it through (warn-only); rejected notes are counted apart."
    )


def _copy_forward(cf: dict[str, Any]) -> str:
    if not cf["pairs"]:
        return note("No pair of consecutive accepted notes of one patient.")
    html = img(
        plots.similarity_histogram(cf["histogram"]["edges"], cf["histogram"]["counts"], band=cf["band"]),
        "copy-forward similarity",
    )
    q = cf["quantiles"]
    html += table(
        ["pairs", "mean", *q.keys(), "band", "at or above band", "copy_forward ledger (enforced)"],
        [
            (
                cf["pairs"],
                cf["mean"],
                *q.values(),
                cf["band"],
                cf["above_band"] if cf["band"] is not None else None,
                f"{cf['ledger']} ({cf['ledger_enforced']})",
            )
        ],
    )
    band = (
        f"band {fmt(cf['band'])} from {cf['band_source']}"
        if cf["band"] is not None
        else "no band: the copy_forward filter is neither in the run's pipeline nor registered here"
    )
    return html + note(
        "Similarity = share of a note's word 5-grams its patient's previous accepted note already has "
        f"(dualalign_core.history.similarity.copy_forward); {band}."
    )


def _scores(lg: dict[str, Any]) -> str:
    scores = lg["scores"]
    if not scores:
        return note("no timeline" if not lg["timeline"] else "The timelines hold no scores.")
    html = img(plots.score_trajectories(scores), "score trajectories")
    rows = [
        (
            s["title"],
            f"{b['from']}–{b['to']}",
            b["mean"],
            b["sd"],
            b["n"],
        )
        for s in scores.values()
        for b in s["bins"]
    ]
    html += table(["score", "years before diagnosis", "mean", "SD", "values"], rows)
    return html + note("Planned values from the patients' timelines, every patient pooled per whole year.")


def _patient(lg: dict[str, Any]) -> str:
    p = lg["patient"]
    if p is None:
        return note("no timeline" if not lg["timeline"] else "No patient with a timeline has an accepted note.")
    html = note(
        f"Patient {p['persona_id']} (age {fmt(p['age'])} at diagnosis), the one with the most accepted notes: "
        f"{len(p['notes'])} notes, {len(p['medications'])} medication courses, {len(p['events'])} events. Hover a "
        "mark for details; click a note tick to open its text below."
    )
    html += patient_svg.render(p, NOTE_ANCHOR)
    items = "".join(
        f'<details id="{NOTE_ANCHOR}{i}"><summary>{n["years"]:.2f} years before diagnosis · '
        f"{escape(n['note_type'])} · {escape(n['stage'])} · {escape(n['author'] or 'author unknown')}</summary>"
        f"<pre>{escape(n['text'])}</pre></details>"
        for i, n in enumerate(p["notes"])
    )
    return html + f'<div class="ln-notes">{items}</div>'


__all__ = ["NOTE_ANCHOR", "section"]

"""The report page: one self-contained HTML document (inline CSS, images as data URIs, no scripts)."""

from __future__ import annotations

from html import escape
from typing import Any

from dualalign_core.report import plots
from dualalign_core.report.markup import _Raw, fmt, img, note, pct, table
from dualalign_core.score.display import html_section as scorecard_section

SECTIONS = (
    ("summary", "Summary"),
    ("demographics", "Demographics vs target"),
    ("risk-factors", "Risk factors vs target"),
    ("notes", "Notes per patient, note type and time"),
    ("stage-timeline", "Stage timeline"),
    ("symptom-categories", "Symptom categories per stage"),
    ("mentions", "Mentions per note"),
    ("plan-adherence", "Plan adherence"),
    ("temporal-coherence", "Temporal-coherence violations"),
    ("longitudinal", "Longitudinal"),
    ("diversity", "Diversity and mode collapse"),
    ("rejections", "Rejection ledger"),
    ("labels", "Label distribution"),
    ("agreement", "Annotator agreement"),
    ("usage", "Tokens, cost and throughput"),
    ("provenance", "Plugins and versions"),
)

CSS = """
*{box-sizing:border-box}body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
margin:0;background:#f6f8fa}main{max-width:1100px;margin:0 auto;padding:1rem 1.25rem 3rem}
header{background:#0d1117;color:#f0f6fc;padding:1rem 1.25rem}header h1{margin:0;font-size:1.4rem}
header p{margin:.25rem 0 0;color:#9da7b3}nav{display:flex;flex-wrap:wrap;gap:.35rem .8rem;margin:.75rem 0}
nav a{color:#0969da;text-decoration:none;font-size:.9rem}section{background:#fff;border:1px solid #d0d7de;
border-radius:8px;padding:.75rem 1rem;margin:1rem 0}h2{font-size:1.15rem;margin:.2rem 0 .6rem}
h3{font-size:1rem;margin:.8rem 0 .3rem}img{max-width:100%;height:auto;display:block;margin:.5rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:.75rem}
.tw{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0;min-width:50%}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}.note{color:#57606a;font-size:.85rem}
.kpi{display:flex;flex-wrap:wrap;gap:.5rem}.kpi div{border:1px solid #d0d7de;border-radius:6px;padding:.35rem .7rem}
.kpi b{display:block;font-size:1.15rem}.bad{color:#cf222e}.ok{color:#1a7f37}
.ln-notes details{border-bottom:1px solid #d0d7de;padding:.2rem 0}.ln-notes details:target{background:#fff8c5}
.ln-notes pre{white-space:pre-wrap;font-size:.82rem;background:#f6f8fa;padding:.5rem;margin:.3rem 0}
"""


def render(m: dict[str, Any]) -> str:
    """The whole page from :func:`dualalign_core.report.measures.collect` output."""
    body = {sid: globals()[f"_s_{sid.replace('-', '_')}"](m) for sid, _ in SECTIONS}
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{escape(title)}</h2>{body[sid]}</section>' for sid, title in SECTIONS)
    r = m["run"]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DualAlign alignment audit — {escape(str(r['run_id']))}</title><style>{CSS}</style></head>"
        f"<body><header><h1>DualAlign alignment audit</h1><p>{escape(str(r['name'])) + ' · ' if r['name'] else ''}"
        f"{escape(str(r['run_id']))} · {escape(str(r['disease']))} · status {escape(str(r['status']))}</p>"
        f"</header><main><nav>{nav}</nav>{scorecard_section(m.get('scorecard'))}{sections}"
        f'<p class="note">Synthetic data: not for clinical decisions.</p></main></body></html>\n'
    )


# -- sections -------------------------------------------------------------------------------------------
def _s_summary(m: dict[str, Any]) -> str:
    c, r = m["counts"], m["run"]
    kpis = [
        ("patients", c["patients"]),
        ("notes planned", c["plans"]),
        ("accepted", c["accepted"]),
        ("rejected", c["rejected"]),
        ("sentences", c["sentences"]),
        ("ledger entries", c["ledger"]),
    ]
    html = '<div class="kpi">' + "".join(f"<div><b>{fmt(v)}</b>{escape(k)}</div>" for k, v in kpis) + "</div>"
    html += table(
        ["field", "value"],
        [
            ("run id", r["run_id"]),
            ("seed", r["seed"]),
            ("disease (pack version)", f"{r['disease']} ({r['disease_version']})"),
            ("density multiplier", r["multiplier"]),
            ("started", r["started_at"]),
            ("finished", r["finished_at"]),
        ],
    )
    if not r["pack_found"]:
        html += note("The disease pack is not installed here: targets come from the run's stored fidelity table.")
    return html


def _s_demographics(m: dict[str, Any]) -> str:
    rows = m["demographics"]
    if not rows:
        return note("No personas in this run.")
    figs = [
        img(
            plots.grouped_bars(
                list(r["target"]),
                {"target": list(r["target"].values()), "measured": [r["measured"].get(k) for k in r["target"]]},
                title=f"{r['key']} (TVD {r['tvd']:.3f})",
                width=5.5,
            ),
            r["key"],
        )
        for r in rows
        if r["single"]
    ]
    html = f'<div class="grid">{"".join(figs)}</div>'
    html += "<h3>Total variation distance per marginal</h3>"
    html += table(["marginal", "TVD", "cells"], [(r["key"], r["tvd"], len(r["target"])) for r in rows])
    return html + note("TVD = ½ Σ |measured − target|; 0 is a perfect match. Small cohorts vary by chance.")


def _s_risk_factors(m: dict[str, Any]) -> str:
    rows = m["risk_factors"]
    if not rows:
        return note("No risk-factor table.")
    cats = [r["title"] for r in rows]
    fig = plots.grouped_bars(
        cats,
        {"target": [r["target"] for r in rows], "measured": [r["measured"] for r in rows]},
        title="risk-factor prevalence",
        ylabel="rate",
        horizontal=True,
        width=8,
    )
    html = img(fig, "risk factors vs target")
    html += table(
        ["risk factor", "group", "target", "measured", "error (points)"],
        [(r["title"], r["group"], pct(r["target"]), pct(r["measured"]), r["error_points"]) for r in rows],
    )
    return html


def _s_notes(m: dict[str, Any]) -> str:
    n = m["notes"]
    html = '<div class="grid">'
    html += img(
        plots.histogram(
            n["per_patient_planned"],
            title="notes per patient (planned)",
            xlabel="notes",
            target=n["target_median"] if not n["max_notes_per_patient"] else None,
        ),
        "notes per patient",
    )
    types = n["by_type"]
    total = sum(t["planned"] for t in types.values()) or 1
    html += img(
        plots.grouped_bars(
            [t["title"] for t in types.values()],
            {
                "target": [t["target_share"] for t in types.values()],
                "planned": [t["planned"] / total for t in types.values()],
            },
            title="note types",
            width=5.5,
        ),
        "note types",
    )
    html += "</div>"
    html += img(
        plots.stacked_by_stage(n["by_year"], m["stages"], title="notes by years before diagnosis"), "notes by year"
    )
    if n["max_notes_per_patient"]:
        html += note(
            f"run.max_notes_per_patient = {n['max_notes_per_patient']}: each history is cut to its "
            f"last notes, so notes per patient cannot match the target median ({n['target_median']})."
        )
    html += table(
        ["note type", "target share", "planned", "accepted"],
        [(t["title"], pct(t["target_share"]), t["planned"], t["accepted"]) for t in types.values()],
    )
    html += note(
        f"median planned notes per patient {n['median_planned']:g} (target {n['target_median']}); "
        f"accepted per patient: min {min(n['per_patient_accepted'], default=0)}, "
        f"max {max(n['per_patient_accepted'], default=0)}"
    )
    return html


def _s_stage_timeline(m: dict[str, Any]) -> str:
    n = m["notes"]
    if not n["timeline"]:
        return note("No plans.")
    html = img(plots.timeline(n["timeline"], m["stages"], n["stage_windows"], n["timeline_patients"]), "stage timeline")
    if n["timeline_patients"] < m["counts"]["patients"]:
        html += note(f"first {n['timeline_patients']} of {m['counts']['patients']} patients shown")
    return html


def _s_symptom_categories(m: dict[str, Any]) -> str:
    labels = m["labels_order"]
    out = []
    for s in m["stages"]:
        c = m["categories"][s]
        if not c["_n"]["planned"]:
            continue
        out.append(
            img(
                plots.grouped_bars(
                    labels,
                    {
                        "target": [c[lb]["target"] for lb in labels],
                        "planned": [c[lb]["planned"] for lb in labels],
                        "found (annotator)": [c[lb]["found"] for lb in labels],
                    },
                    title=f"{m['stage_titles'][s]} ({c['_n']['planned']} planned, {c['_n']['found']} found mentions)",
                    width=5.5,
                ),
                s,
            )
        )
    if not out:
        return note("No planned mentions.")
    return f'<div class="grid">{"".join(out)}</div>' + note(
        "Shares of symptom mentions by category. planned = required terms in the note plans; found = "
        "sentences of accepted notes the annotator labelled with a symptom category."
    )


def _s_mentions(m: dict[str, Any]) -> str:
    rows = [
        (m["stage_titles"][s], v["target"], v["planned_mean"], v["found_mean"], v["planned_notes"], v["accepted_notes"])
        for s, v in m["mentions"].items()
        if v["planned_notes"]
    ]
    if not rows:
        return note("No plans.")
    fig = plots.grouped_bars(
        [r[0] for r in rows],
        {"target": [r[1] for r in rows], "planned": [r[2] for r in rows], "found (annotator)": [r[3] for r in rows]},
        title="mean symptom mentions per note",
        ylabel="mentions",
        width=6.5,
    )
    return img(fig, "mentions per note") + table(
        ["stage", "target (× multiplier)", "planned mean", "found mean", "planned notes", "accepted notes"], rows
    )


def _s_plan_adherence(m: dict[str, Any]) -> str:
    a = m["adherence"]
    rows = [("all", *_adh(a["overall"]))] + [(m["stage_titles"][s], *_adh(v)) for s, v in a["by_stage"].items()]
    return table(
        ["stage", "notes", "planned categories realised", "notes with every category", "required terms verbatim"], rows
    ) + note(
        f"A planned category is realised when the annotator ({a['annotator']}) labels at least one "
        f"sentence of the note with it. Rejections by plan_adherence: {a['rejections']}."
    )


def _adh(v: dict[str, Any]) -> tuple[Any, ...]:
    return v["notes"], pct(v["categories_realised"]), pct(v["fully_realised"]), pct(v["terms_verbatim"])


def _s_temporal_coherence(m: dict[str, Any]) -> str:
    t = m["temporal"]
    html = (
        '<div class="kpi">'
        + "".join(
            f"<div><b>{fmt(v)}</b>{escape(k)}</div>"
            for k, v in [("violations in the ledger", t["violations"]), ("final (not regenerated)", t["final"])]
        )
        + "</div>"
    )
    html += table(["stage", "violations"], [(m["stage_titles"].get(s, s), v) for s, v in t["by_stage"].items()])
    if t["examples"]:
        html += table(
            ["record", "filter", "reason", "value", "threshold"],
            [(e["record_id"], e["filter"], e["reason"], e["value"], e["threshold"]) for e in t["examples"]],
        )
    if not t["configured"]:
        html += note("No temporal filter (temporal_coherence, temporal_regression) ran in this run.")
    return html


def _s_longitudinal(m: dict[str, Any]) -> str:
    from dualalign_core.report.longitudinal_html import section  # it uses this module's helpers

    return section(m)


def _s_diversity(m: dict[str, Any]) -> str:
    d = m["diversity"]
    cols = ["notes", "distinct-1", "distinct-2", "distinct-3", "near-duplicate rate", "mean embedding sim."]

    def row(name: str, b: dict[str, Any]) -> tuple[Any, ...]:
        return (
            name,
            b["notes"],
            b["distinct_1"],
            b["distinct_2"],
            b["distinct_3"],
            pct(b["near_duplicate_rate"]),
            b["embedding_similarity"],
        )

    html = table(["cohort", *cols], [row("all accepted notes", d["overall"])])
    for var, cats in d["strata"].items():
        html += f"<h3>by {escape(var)}</h3>" + table([var, *cols], [row(c, b) for c, b in cats.items()])
    html += note(
        f"Near-duplicates: word {d['shingle_size']}-shingle Jaccard ≥ {d['near_duplicate_threshold']} "
        f"within a sample of {d['pairwise_sample']} notes (also used for embedding similarity). distinct-n "
        "falls as a corpus grows, so compare strata of similar size. " + d["embedding_note"] + "."
    )
    return html


def _s_rejections(m: dict[str, Any]) -> str:
    r = m["rejections"]
    if not r["total"]:
        html = note("The rejection ledger is empty: no filter rejected a note.")
    else:
        html = table(
            ["filter", "stage", "final", "earlier attempts (regenerated)", "total"],
            [(x["filter"], x["stage"], x["final"], x["earlier_attempts"], x["total"]) for x in r["by_filter"]],
        )
        html += "<h3>most frequent reasons</h3>" + table(["reason", "count"], list(r["reasons"].items()))
    for var, cats in r["by_stratum"].items():
        html += f"<h3>by {escape(var)}</h3>" + table(
            [var, "planned notes", "ledger entries", "per 100 planned", "rejected notes"],
            [(c, v["planned"], v["ledger"], v["per_100_planned"], v["rejected_notes"]) for c, v in cats.items()],
        )
    return html


def _s_labels(m: dict[str, Any]) -> str:
    lab = m["label_distribution"]
    if not lab["sentences"]:
        return note("No labelled sentences.")
    keys = list(lab["counts"])
    fig = plots.grouped_bars(
        keys,
        {"accepted": [lab["counts"][k] for k in keys]},
        title=f"sentence labels ({lab['annotator']})",
        ylabel="sentences",
        width=6.5,
    )
    return (
        img(fig, "label distribution")
        + table(["label", "sentences", "share"], [(k, v, pct(v / lab["sentences"])) for k, v in lab["counts"].items()])
        + note(f"{lab['sentences']} labelled sentences of accepted notes, {lab['positive']} with a symptom label.")
    )


def _s_agreement(m: dict[str, Any]) -> str:
    a = m["agreement"]
    if not a:
        return note("One annotator labelled this run: no agreement to report.")
    if "kappa" not in a:
        return note(a.get("note", "unavailable"))
    html = table(
        ["annotators", "sentences", "observed agreement", "Cohen's κ", "binary κ"],
        [(f"{a['annotator_a']} vs {a['annotator_b']}", a["n"], pct(a["observed"]), a["kappa"], a["binary_kappa"])],
    )
    return html + table(["label", "κ (one vs rest)"], list(a["per_label"].items()))


def _s_usage(m: dict[str, Any]) -> str:
    u = m["usage"]
    rows = [
        ("input tokens", u["input_tokens"]),
        ("output tokens", u["output_tokens"]),
        ("cost (USD)", f"{u['cost_usd']:.4f}"),
        ("units of work (notes)", u["units"]),
        ("regenerations (quota refill)", u["regenerations"]),
        ("tokens per note", u["tokens_per_note"]),
        ("cost per accepted note (USD)", u["cost_per_accepted_note"]),
        ("wall time (s)", u["wall_seconds"]),
        ("accepted notes per minute", u["notes_per_minute"]),
        ("resumes", u["resumes"]),
        ("stop reason", u["stop_reason"]),
    ]
    rows += [(f"throughput: {k}", v) for k, v in u["throughput"].items()]
    rows += [(f"limit: {k}", v) for k, v in u["limits"].items()]
    html = table(["measure", "value"], rows)
    llm = u.get("llm") or {}
    if llm:  # the LLM runtime's own counts, summed over every invocation of the run
        cols = [
            "requests",
            "retries",
            "rate_limited",
            "reasks",
            "cache_hits",
            "batches",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ]
        html += table(
            ["role", "provider / model", *[c.replace("_", " ") for c in cols], "failures"],
            [
                (
                    role,
                    f"{s.get('provider')} / {s.get('model')}",
                    *[s.get(c, 0) for c in cols],
                    ", ".join(f"{k}={v}" for k, v in (s.get("failures") or {}).items()) or "none",
                )
                for role, s in sorted(llm.items())
            ],
        )
    return html


def _s_provenance(m: dict[str, Any]) -> str:
    p = m["provenance"]
    comps = [
        (kind, c.get("name"), c.get("plugin"), c.get("plugin_version"), c.get("model"))
        for kind, c in sorted(p["components"].items())
    ]
    comps += [
        (f"filter ({f.get('stage')})", f.get("name"), f.get("plugin"), f.get("plugin_version"), None)
        for f in p["filters"]
    ]
    d = p["disease"]
    html = table(["component", "name", "plugin", "version", "model"], comps)
    html += table(
        ["disease pack", "version", "plugin", "prompt version", "prompt hash"],
        [
            (
                d.get("name"),
                d.get("version"),
                f"{d.get('plugin')} {d.get('plugin_version')}",
                d.get("prompt_version"),
                d.get("prompt_hash"),
            )
        ],
    )
    html += table(
        ["plugin", "distribution", "version", "status"],
        [
            (
                x["name"],
                x["distribution"],
                x["version"],
                _Raw(f'<span class="{"ok" if x["status"] == "ok" else "bad"}">{escape(x["status"])}</span>'),
            )
            for x in p["plugins"]
        ],
    )
    return html + note(f"dualalign-core {p['core_version']}")

"""Matplotlib figures (Agg backend) rendered to base64 PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"target": "#9aa5b1", "measured": "#1f6feb", "planned": "#1f6feb", "found": "#d9822b", "accepted": "#2da44e"}
STAGE_COLORS = ["#c6dbef", "#6baed6", "#2171b5", "#08306b", "#041836"]


def to_data_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def grouped_bars(
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str = "share",
    horizontal: bool = False,
    width: float = 7.0,
) -> str:
    """Side-by-side bars, one group per category, one bar per series (None drawn as 0)."""
    n, k = len(categories), max(len(series), 1)
    height = max(2.4, 0.32 * n * k / 1.6) if horizontal else 3.2
    fig, ax = plt.subplots(figsize=(width, height))
    idx = np.arange(n)
    w = 0.8 / k
    for i, (name, vals) in enumerate(series.items()):
        v = [0.0 if x is None else float(x) for x in vals]
        pos = idx + (i - (k - 1) / 2) * w
        color = COLORS.get(name.split(" ")[0])
        if horizontal:
            ax.barh(pos, v, height=w, label=name, color=color)
        else:
            ax.bar(pos, v, width=w, label=name, color=color)
    if horizontal:
        ax.set_yticks(idx, categories)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
    else:
        ax.set_xticks(
            idx,
            categories,
            rotation=20 if max(map(len, categories), default=0) > 8 else 0,
            ha="right" if max(map(len, categories), default=0) > 8 else "center",
        )
        ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)


def histogram(values: Sequence[float], *, title: str, xlabel: str, target: float | None = None) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    vals = list(values)
    if vals:
        bins = min(30, max(1, len(set(vals))))
        ax.hist(vals, bins=bins, color=COLORS["measured"], edgecolor="white")
    if target is not None:
        ax.axvline(target, color="#cf222e", linestyle="--", label=f"target median {target:g}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("patients")
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)


def stacked_by_stage(bins: dict[str, dict[str, int]], stages: Sequence[str], *, title: str) -> str:
    """Notes per year-before-diagnosis bin, stacked by stage."""
    fig, ax = plt.subplots(figsize=(7, 3))
    labels = list(bins)
    bottom = np.zeros(len(labels))
    for i, s in enumerate(stages):
        v = np.array([bins[b].get(s, 0) for b in labels], dtype=float)
        ax.bar(labels, v, bottom=bottom, label=s, color=STAGE_COLORS[i % len(STAGE_COLORS)])
        bottom += v
    ax.set_xlabel("years before diagnosis")
    ax.set_ylabel("planned notes")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, frameon=False, ncol=max(1, min(4, len(stages))))
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)


def timeline(
    points: Sequence[dict[str, Any]], stages: Sequence[str], windows: Sequence[dict[str, Any]], n_patients: int
) -> str:
    """One row per patient: each planned note at its time before diagnosis, coloured by stage."""
    fig, ax = plt.subplots(figsize=(7, max(2.2, 0.18 * n_patients + 1)))
    for w in windows:
        i = list(stages).index(w["stage"]) if w["stage"] in stages else 0
        ax.axvspan(w["to"], w["from"], color=STAGE_COLORS[i % len(STAGE_COLORS)], alpha=0.18, lw=0)
    for i, s in enumerate(stages):
        pts = [p for p in points if p["stage"] == s]
        if pts:
            ax.scatter(
                [p["years"] for p in pts],
                [p["patient"] for p in pts],
                s=9,
                label=s,
                color=STAGE_COLORS[i % len(STAGE_COLORS)],
                edgecolors="none",
            )
    rej = [p for p in points if not p["accepted"]]
    if rej:
        ax.scatter(
            [p["years"] for p in rej],
            [p["patient"] for p in rej],
            s=24,
            facecolors="none",
            edgecolors="#cf222e",
            label="not accepted",
        )
    ax.invert_xaxis()
    ax.set_xlabel("years before diagnosis (diagnosis at 0)")
    ax.set_ylabel("patient")
    ax.set_title("stage timeline (planned notes; shaded: the schedule's stage windows)", fontsize=11)
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=min(5, len(stages) + 1))
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)


def score_trajectories(scores: dict[str, dict[str, Any]]) -> str:
    """Each score's mean per year before diagnosis (± one SD, shaded) across patients; diagnosis at the right."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, s in enumerate(scores.values()):
        x = np.array([b["from"] + 0.5 for b in s["bins"]])
        y = np.array([b["mean"] for b in s["bins"]])
        sd = np.array([b["sd"] for b in s["bins"]])
        color = STAGE_COLORS[(i * 2 + 1) % len(STAGE_COLORS)] if len(scores) > 1 else COLORS["measured"]
        ax.plot(x, y, marker="o", ms=4, color=color, label=f"{s['title']} ({s['values']} values)")
        ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.15, lw=0)
    ax.invert_xaxis()
    ax.set_xlabel("years before diagnosis (diagnosis at 0)")
    ax.set_ylabel("score (mean per year)")
    ax.set_title("planned score trajectories", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)


def similarity_histogram(edges: Sequence[float], counts: Sequence[int], *, band: float | None) -> str:
    """Copy-forward similarity of consecutive notes, with the filter's band as a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 2.8))
    widths = np.diff(np.asarray(edges, dtype=float))
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=COLORS["measured"], edgecolor="white")
    if band is not None:
        ax.axvline(band, color="#cf222e", linestyle="--", label=f"copy_forward band {band:g}")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the note's word 5-grams in the previous note")
    ax.set_ylabel("note pairs")
    ax.set_title("copy-forward between consecutive notes", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return to_data_uri(fig)

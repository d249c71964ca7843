"""Every scorecard threshold, in one place, with what the measure is (docs/scorecard.md explains each).

A measure is graded by :func:`measure`: pass, warn or fail against its threshold here; without a value
(no reference, no ablation) it is ``n/a`` and ``detail["note"]`` says why.
"""

from __future__ import annotations

from typing import Any

from dualalign_core.score.grades import Measure, Threshold

# name -> (threshold, one-line description)
THRESHOLDS: dict[str, tuple[Threshold, str]] = {
    # fidelity: the stored target-vs-sampled tables (dualalign plan / run), summarised
    "fidelity.max_demographic_tvd": (
        Threshold("lower", 0.10, 0.20),
        "largest total variation distance of a demographic marginal from its target",
    ),
    "fidelity.max_risk_factor_error": (
        Threshold("lower", 5.0, 10.0, "points"),
        "largest risk-factor prevalence error",
    ),
    "fidelity.max_category_error": (
        Threshold("lower", 5.0, 10.0, "points"),
        "largest symptom-category share error in a stage",
    ),
    # realism: the synthetic notes against the reference (real notes)
    "realism.mauve": (
        Threshold("higher", 0.70, 0.40),
        "MAUVE of MiniLM embeddings (1: indistinguishable distributions)",
    ),
    "realism.length_ks": (
        Threshold("lower", 0.20, 0.40),
        "Kolmogorov-Smirnov distance of token lengths (notes, or sentences for a sentence reference)",
    ),
    "realism.section_gap": (
        Threshold("lower", 0.20, 0.40),
        "largest gap in the share of notes carrying a section (SOAP and other headers)",
    ),
    "realism.label_tvd": (
        Threshold("lower", 0.15, 0.30),
        "total variation distance of the sentence label distributions",
    ),
    "realism.vocabulary_overlap": (
        Threshold("higher", 0.50, 0.30),
        "Jaccard overlap of the 1,000 most frequent words",
    ),
    # diversity and homogenisation: the synthetic notes alone
    "diversity.distinct_2": (
        Threshold("higher", 0.30, 0.15),
        "distinct word bigrams over all bigrams, on a fixed-size sample of notes",
    ),
    "diversity.near_duplicate_rate": (
        Threshold("lower", 0.05, 0.20),
        "share of notes with a word 3-shingle Jaccard >= 0.8 to another (sample)",
    ),
    "diversity.embedding_similarity": (
        Threshold("lower", 0.85, 0.95),
        "mean pairwise MiniLM cosine similarity (sample)",
    ),
    "diversity.compression_ratio": (
        Threshold("higher", 0.25, 0.15),
        "zlib-compressed size over raw size of the notes concatenated (sample): low is repetitive",
    ),
    "diversity.similarity_across_patients": (
        Threshold("lower", 0.50, 0.70),
        "mean TF-IDF cosine of notes of different patients (sampled pairs)",
    ),
    "diversity.similarity_within_patient": (
        Threshold("lower", 0.80, 0.90),
        "mean TF-IDF cosine of a patient's notes (sampled pairs): copy-forward",
    ),
    # privacy: disclosure of the reference, from the output (and a control) alone
    "privacy.exact_replay": (
        Threshold("lower", 0.0, 0.01),
        "share of notes holding a reference sentence (>= 8 tokens) verbatim",
    ),
    "privacy.near_replay": (
        Threshold("lower", 0.0, 0.01),
        "share of notes holding a near copy of a reference sentence (MinHash nearest neighbour, Jaccard >= 0.5)",
    ),
    "privacy.longest_common_span": (
        Threshold("lower", 15, 31, "tokens"),
        "longest token span shared with the reference, over all notes",
    ),
    "privacy.reference_8gram_share": (
        Threshold("lower", 0.05, 0.20),
        "share of synthetic word 8-grams found in the reference",
    ),
    "privacy.dcr_ratio": (
        Threshold("higher", 0.90, 0.70),
        "median distance to closest reference record: synthetic over control (< 1: closer than unseen real text)",
    ),
    "privacy.identifiers": (
        Threshold("lower", 0.0, 0.01),
        "share of accepted notes with identifier-like strings (the identifiers filter's patterns)",
    ),
    # utility: the ablation, linked not rerun
    "utility.gold_synthetic_gain": (
        Threshold("higher", 0.0, -0.02, "macro-F1"),
        "macro-F1 of gold + synthetic minus gold only (dualalign ablate), worst task",
    ),
}


def measure(name: str, value: float | None, detail: dict[str, Any] | None = None, *, note: str = "") -> Measure:
    """The measure ``name`` graded against its threshold; ``note`` (why there is no value) goes into detail."""
    threshold, about = THRESHOLDS[name]
    detail = {"about": about, **(detail or {})}
    if note:
        detail["note"] = note
    if value is not None:
        value = round(float(value), 4)
    return Measure(name=name, value=value, threshold=threshold, verdict=threshold.grade(value), detail=detail)


def not_measured(names: list[str], note: str) -> list[Measure]:
    """``n/a`` rows saying why (for example ``no reference``)."""
    return [measure(n, None, note=note) for n in names]

"""Realism against the reference: MAUVE on MiniLM embeddings, length and section-structure distributions,
label distribution, vocabulary overlap."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dualalign_core.score.corpus import Corpus
from dualalign_core.score.grades import Measure
from dualalign_core.score.thresholds import measure
from dualalign_core.text.diversity import sample, tokens

NAMES = [
    "realism.mauve",
    "realism.length_ks",
    "realism.section_gap",
    "realism.label_tvd",
    "realism.vocabulary_overlap",
]
MAUVE_SAMPLE = 200  # texts per side embedded for MAUVE
MAUVE_MAX_TOKENS = 128  # MiniLM input cut
SECTION_SAMPLE = 500
TOP_WORDS = 1000


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    grid = np.concatenate([x, y])
    return float(
        np.max(np.abs(np.searchsorted(x, grid, "right") / len(x) - np.searchsorted(y, grid, "right") / len(y)))
    )


def tvd(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def mauve_measure(synthetic: Sequence[str], reference: Sequence[str], embedder: Any, seed: int = 0) -> Measure:
    """MAUVE (Pillutla et al. 2021) of MiniLM sentence embeddings, ``MAUVE_SAMPLE`` texts a side."""
    if embedder is None:
        return measure("realism.mauve", None, note="MiniLM not available (--no-embeddings or the [embeddings] extra)")
    try:
        import mauve
    except ImportError:
        return measure("realism.mauve", None, note="mauve-text not installed: pip install 'dualalign-core[report]'")
    p = sample(list(reference), MAUVE_SAMPLE, seed)
    q = sample(list(synthetic), MAUVE_SAMPLE, seed)
    pf, qf = embedder(p, max_length=MAUVE_MAX_TOKENS), embedder(q, max_length=MAUVE_MAX_TOKENS)
    buckets = max(2, min(len(p), len(q)) // 10)
    out = mauve.compute_mauve(
        p_features=pf, q_features=qf, num_buckets=buckets, kmeans_num_redo=2, kmeans_max_iter=100, seed=seed + 25
    )
    detail: dict[str, Any] = {"reference_sample": len(p), "synthetic_sample": len(q), "buckets": buckets}
    detail["features"] = f"all-MiniLM-L6-v2 mean pooling, first {MAUVE_MAX_TOKENS} tokens"
    return measure("realism.mauve", float(out.mauve), detail)


def _section_shares(texts: Sequence[str]) -> dict[str, float]:
    from dualalign_core.text.segment import sections

    found = Counter(s for t in texts for s in sections(t))
    return {k: v / len(texts) for k, v in found.items()}


def realism_measures(
    synthetic: Sequence[str], synthetic_labels: Sequence[str] | None, reference: Corpus, embedder: Any, seed: int = 0
) -> list[Measure]:
    """``synthetic`` are texts at the reference's unit (notes or sentences)."""
    out = [mauve_measure(synthetic, reference.texts, embedder, seed)]
    ref_tok = [tokens(t) for t in reference.texts]
    syn_tok = [tokens(t) for t in synthetic]
    ks = ks_distance([len(t) for t in syn_tok], [len(t) for t in ref_tok])
    lengths = {
        "unit": reference.unit,
        "median_synthetic": float(np.median([len(t) for t in syn_tok])),
        "median_reference": float(np.median([len(t) for t in ref_tok])),
    }
    out.append(measure("realism.length_ks", ks, lengths))
    if reference.unit == "notes":
        syn_s = _section_shares(sample(list(synthetic), SECTION_SAMPLE, seed))
        ref_s = _section_shares(sample(list(reference.texts), SECTION_SAMPLE, seed))
        gaps = {k: round(syn_s.get(k, 0.0) - ref_s.get(k, 0.0), 4) for k in sorted(set(syn_s) | set(ref_s))}
        gap = max((abs(v) for v in gaps.values()), default=0.0)
        out.append(measure("realism.section_gap", gap, {"share_gap_by_section": gaps}))
    else:
        out.append(measure("realism.section_gap", None, note="the reference holds sentences: no section structure"))
    ref_labels = Counter(lb for lb in reference.labels if lb is not None)
    if not ref_labels:
        out.append(measure("realism.label_tvd", None, note="the reference has no `label` field"))
    elif not synthetic_labels:
        out.append(measure("realism.label_tvd", None, note="the run has no sentence labels"))
    else:
        syn_labels = Counter(synthetic_labels)
        shares = {
            k: {
                "synthetic": round(syn_labels[k] / sum(syn_labels.values()), 4),
                "reference": round(ref_labels[k] / sum(ref_labels.values()), 4),
            }
            for k in sorted(set(syn_labels) | set(ref_labels))
        }
        out.append(measure("realism.label_tvd", tvd(syn_labels, ref_labels), {"shares": shares}))
    syn_top = {w for w, _ in Counter(w for t in syn_tok for w in t).most_common(TOP_WORDS)}
    ref_top = {w for w, _ in Counter(w for t in ref_tok for w in t).most_common(TOP_WORDS)}
    overlap = len(syn_top & ref_top) / len(syn_top | ref_top) if syn_top | ref_top else 0.0
    out.append(
        measure("realism.vocabulary_overlap", overlap, {"top_words": TOP_WORDS, "shared": len(syn_top & ref_top)})
    )
    return out

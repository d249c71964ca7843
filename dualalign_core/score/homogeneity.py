"""Diversity and homogenisation of the synthetic notes alone: today's report figures (distinct-n,
near-duplicates, embedding similarity) on fixed-size samples, compression ratio, and TF-IDF similarity of
notes within a patient (copy-forward) and across patients (everyone sounds alike)."""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from dualalign_core.score.corpus import SyntheticNote
from dualalign_core.score.grades import Measure
from dualalign_core.score.thresholds import measure
from dualalign_core.text import diversity as report_diversity
from dualalign_core.text.diversity import tokens

DISTINCT_SAMPLE = 100  # distinct-n falls as a corpus grows: a fixed sample size keeps runs comparable
NEAR_DUP_SAMPLE = 200  # all pairs compared: quadratic
EMBED_SAMPLE = 100
COMPRESS_SAMPLE = 200
PAIRS = 1000  # note pairs sampled within and across patients


def _tfidf(notes: Sequence[SyntheticNote]) -> dict[str, dict[str, float]]:
    """Unit TF-IDF vectors (sublinear tf, IDF from these notes) keyed by note id."""
    counts = {n.id: Counter(tokens(n.text)) for n in notes}
    df = Counter(w for c in counts.values() for w in c)
    idf = {w: math.log((1 + len(counts)) / (1 + d)) + 1 for w, d in df.items()}
    out = {}
    for nid, c in counts.items():
        v = {w: (1 + math.log(k)) * idf[w] for w, k in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        out[nid] = {w: x / norm for w, x in v.items()}
    return out


def _cos(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(x * b.get(w, 0.0) for w, x in a.items())


def _pairs(notes: Sequence[SyntheticNote], seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    by: dict[str, list[str]] = defaultdict(list)
    for n in notes:
        by[n.persona_id].append(n.id)
    within = [(a, b) for ids in by.values() for i, a in enumerate(ids) for b in ids[i + 1 :]]
    within = rng.sample(within, PAIRS) if len(within) > PAIRS else within
    across: list[tuple[str, str]] = []
    if len(by) >= 2:
        for _ in range(PAIRS):
            a, b = rng.sample(notes, 2)
            if a.persona_id != b.persona_id:
                across.append((a.id, b.id))
    return within, across


def similarity_measures(notes: Sequence[SyntheticNote], seed: int = 0) -> list[Measure]:
    within, across = _pairs(notes, seed)
    needed = {i for p in within + across for i in p}
    vectors = _tfidf([n for n in notes if n.id in needed])
    out = []
    for name, pairs, why in (
        ("diversity.similarity_across_patients", across, "fewer than 2 patients"),
        ("diversity.similarity_within_patient", within, "no patient has 2 notes"),
    ):
        sims = [_cos(vectors[a], vectors[b]) for a, b in pairs]
        value = float(np.mean(sims)) if sims else None
        out.append(
            measure(name, value, {"pairs": len(sims), "representation": "TF-IDF words"}, note="" if sims else why)
        )
    return out


def diversity_measures(
    notes: Sequence[SyntheticNote], embedder: Any = None, *, embedding_similarity: float | None = None, seed: int = 0
) -> list[Measure]:
    """``embedding_similarity``: a figure already computed (the report's), else ``embedder`` makes one."""
    texts = [n.text for n in notes]
    if not texts:
        note = "no accepted notes"
        return [
            measure(n, None, note=note)
            for n in (
                "diversity.distinct_2",
                "diversity.near_duplicate_rate",
                "diversity.embedding_similarity",
                "diversity.compression_ratio",
                "diversity.similarity_across_patients",
                "diversity.similarity_within_patient",
            )
        ]
    small = report_diversity.sample(texts, DISTINCT_SAMPLE, seed)
    out = [measure("diversity.distinct_2", report_diversity.distinct_n(small, 2), {"sample": len(small)})]
    dup = report_diversity.sample(texts, NEAR_DUP_SAMPLE, seed)
    out.append(
        measure(
            "diversity.near_duplicate_rate",
            report_diversity.near_duplicate_rate(dup),
            {"sample": len(dup), "rule": "word 3-shingle Jaccard >= 0.8"},
        )
    )
    detail: dict[str, Any] = {}
    if embedding_similarity is None and embedder is not None and len(texts) >= 2:
        chosen = report_diversity.sample(texts, EMBED_SAMPLE, seed)
        embedding_similarity = report_diversity.mean_pairwise_similarity(embedder(chosen, max_length=128))
        detail["sample"] = len(chosen)
    note = "" if embedding_similarity is not None else "MiniLM not available (--no-embeddings or [embeddings])"
    out.append(measure("diversity.embedding_similarity", embedding_similarity, detail, note=note))
    comp = report_diversity.sample(texts, COMPRESS_SAMPLE, seed)
    raw = "\n".join(comp).encode("utf-8")
    ratio = len(zlib.compress(raw, 9)) / len(raw) if raw else None
    out.append(measure("diversity.compression_ratio", ratio, {"sample": len(comp), "bytes": len(raw)}))
    return out + similarity_measures(notes, seed)

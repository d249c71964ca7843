"""Distance to closest record (DCR): each synthetic text's cosine distance to its nearest reference record,
compared with the control's (real text the generator never saw: ``--control``, else a held-out split).

Texts are TF-IDF word vectors (hashed, IDF from the reference) reduced by a truncated SVD; the
nearest neighbour is an exact search by chunked matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dualalign_core.errors import BadInput

DIMS = 64
FEATURES = 2**16  # hashed word features
SVD_FIT = 2000  # reference records the SVD is fitted on (a seeded sample beyond this)
CONTROL_SHARE = 0.2  # of the reference held out as the control when none is given
MAX_UNITS = 20_000  # synthetic texts sampled beyond this
TOO_CLOSE_QUANTILE = 0.05  # "too close": nearer the reference than 95 % of the control is


def _sklearn() -> Any:
    try:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    except ImportError:  # pragma: no cover - the [report] extra
        raise BadInput("the privacy measures need scikit-learn: pip install 'dualalign-core[report]'") from None
    return HashingVectorizer, TfidfTransformer, TruncatedSVD


def lexical_vectors(fit: Sequence[str], *others: Sequence[str], seed: int = 0) -> list[np.ndarray]:
    """Unit vectors for ``fit`` and each of ``others``, in the space fitted on ``fit``."""
    hashing_vectorizer, tfidf_transformer, truncated_svd = _sklearn()
    hasher = hashing_vectorizer(n_features=FEATURES, alternate_sign=False, norm=None)
    counts = hasher.transform(fit)
    used = np.unique(counts.indices)  # columns the reference never uses add nothing to its SVD
    tfidf = tfidf_transformer(sublinear_tf=True).fit(counts[:, used])
    mats = [tfidf.transform(hasher.transform(t)[:, used]) for t in (fit, *others)]
    dims = max(1, min(DIMS, len(fit) - 1, len(used) - 1))
    rows = np.random.default_rng(seed).permutation(len(fit))[:SVD_FIT]
    svd = truncated_svd(n_components=dims, random_state=seed, algorithm="randomized", n_iter=3)
    svd.fit(mats[0][np.sort(rows)])
    out = []
    for m in mats:
        v = np.asarray(svd.transform(m), dtype=np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        out.append(v / np.where(norms == 0, 1, norms))
    return out


def closest_distance(query: np.ndarray, base: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Cosine distance from each query vector to its nearest base vector."""
    best = np.empty(len(query), dtype=np.float32)
    for i in range(0, len(query), chunk):
        best[i : i + chunk] = (query[i : i + chunk] @ base.T).max(axis=1)
    return np.clip(1.0 - best, 0.0, 2.0)


def split_control(texts: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """(reference, control): a seeded CONTROL_SHARE of the reference held out."""
    order = np.random.default_rng(seed).permutation(len(texts))
    k = max(1, int(round(len(texts) * CONTROL_SHARE)))
    return [texts[i] for i in order[k:]], [texts[i] for i in order[:k]]


def dcr(synthetic: Sequence[str], reference: Sequence[str], control: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """The ratio of median DCRs (synthetic over control) and the share of synthetic texts too close."""
    if len(synthetic) > MAX_UNITS:
        pick = np.random.default_rng(seed).choice(len(synthetic), MAX_UNITS, replace=False)
        synthetic = [synthetic[i] for i in sorted(pick)]
    ref, syn, ctl = lexical_vectors(reference, synthetic, control, seed=seed)
    d_syn, d_ctl = closest_distance(syn, ref), closest_distance(ctl, ref)
    med_syn, med_ctl = float(np.median(d_syn)), float(np.median(d_ctl))
    cut = float(np.quantile(d_ctl, TOO_CLOSE_QUANTILE))
    return {
        "ratio": med_syn / med_ctl if med_ctl > 0 else None,
        "median_synthetic": round(med_syn, 4),
        "median_control": round(med_ctl, 4),
        "too_close_share": round(float(np.mean(d_syn < cut)), 4),
        "too_close_cut": round(cut, 4),
        "exact_matches": int(np.sum(d_syn < 1e-4)),
        "synthetic": len(synthetic),
        "reference": len(reference),
        "control": len(control),
        "representation": f"TF-IDF words, SVD {ref.shape[1]} dims, cosine distance",
    }

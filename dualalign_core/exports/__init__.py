"""Exports of a run: `jsonl.export_run` writes every format (jsonl and parquet itself, `hf` and `fhir` through
those modules); here, the patient splits they share."""

from __future__ import annotations

import hashlib

SPLITS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


def patient_splits(persona_ids: list[str]) -> dict[str, str]:
    """persona id -> split, by a stable hash order, so no patient's notes cross splits.

    Validation and test get at least one patient each once there are three patients.
    """
    order = sorted(persona_ids, key=lambda pid: hashlib.sha256(pid.encode()).hexdigest())
    n = len(order)
    n_val = max(1, round(n * SPLITS[1][1])) if n >= 3 else 0
    n_test = max(1, round(n * SPLITS[2][1])) if n >= 3 else 0
    out = {}
    for i, pid in enumerate(order):
        out[pid] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out

"""Per-record seeds derived from the run seed, so any record can be rebuilt on its own."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(run_seed: int, *keys: object) -> int:
    """A 63-bit seed from the run seed and a path of keys (e.g. ``("plan", "p0003")``)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(int(run_seed)).encode())
    for key in keys:
        h.update(b"\x1f")
        h.update(str(key).encode())
    return int.from_bytes(h.digest(), "big") >> 1


def rng_for(run_seed: int, *keys: object) -> np.random.Generator:
    """A numpy generator seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(run_seed, *keys))


def short_hash(text: str, n: int = 16) -> str:
    """Hex digest used for prompt hashes and cache keys."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]

"""Replay of reference text: shared word 8-grams and the longest shared span (a numpy 8-gram index), and
sentence copies, verbatim or near (MinHash of word bigrams, nearest neighbour through datasketch's LSH).

Linear in the text: no pair of notes is ever compared whole.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from attrs import frozen

from dualalign_core.score.corpus import split_sentences
from dualalign_core.text.diversity import tokens

NGRAM = 8  # word n-grams for the span and the shared share
MIN_SENTENCE_TOKENS = 8  # shorter sentences (boilerplate: "No acute distress.") never count as replay
NEAR_JACCARD = 0.5  # word-bigram Jaccard of a near copy
NUM_PERM = 64
MAX_CANDIDATES = 20  # LSH candidates verified per synthetic sentence
_P = np.uint64(1_000_003)


class Vocab:
    """Word -> integer id (1-based), shared by both sides so equal words hash equally."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, words: Sequence[str]) -> np.ndarray:
        ids = self.ids
        out = list(map(ids.get, words))
        if None in out:
            out = [ids.setdefault(w, len(ids) + 1) for w in words]
        return np.array(out, dtype=np.uint64)


def tokenised(text: str, vocab: Vocab) -> tuple[list[list[str]], np.ndarray, list[int]]:
    """A text's sentences as words, all its word ids (one encode), and each sentence's start in them."""
    sentences = [tokens(s) for s in split_sentences(text)]
    starts, at = [], 0
    for words in sentences:
        starts.append(at)
        at += len(words)
    return sentences, vocab.encode([w for ws in sentences for w in ws]), starts


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit polynomial hash of every word n-gram (wrapping arithmetic; collisions are negligible)."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    for k in range(n):
        h = h * _P + ids[k : k + m]
    return h


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True."""
    if not mask.any():
        return 0
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


@frozen
class NoteReplay:
    """Per synthetic note: the longest span shared with the reference (tokens), its 8-grams found there,
    and its sentences copied verbatim / nearly (``(sentence index, reference record, Jaccard)``)."""

    span: int
    ngrams: int
    shared: int
    exact: tuple[tuple[int, int, float], ...]
    near: tuple[tuple[int, int, float], ...]
    best_jaccard: float


class _Signer:
    """MinHash signatures of integer sets, vectorised (multiply-shift hashing, ``NUM_PERM`` functions)."""

    def __init__(self, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return ((values[None, :] * self.a[:, None] + self.b[:, None]) >> np.uint64(32)).min(axis=1)


class ReferenceIndex:
    """The reference's word 8-grams and its sentences (verbatim lookup and an LSH for near copies)."""

    def __init__(self, texts: Sequence[str], vocab: Vocab) -> None:
        import inspect

        from datasketch import LeanMinHash, MinHashLSH

        self.vocab = vocab
        # datasketch >= 2 wants the scheme of given hash values: ours are 32-bit affine (multiply-shift) hashes
        scheme = {"scheme": "affine32"} if "scheme" in inspect.signature(LeanMinHash.__init__).parameters else {}
        self._minhash = functools.partial(LeanMinHash, seed=1, **scheme)
        self.sign = _Signer()
        grams: list[np.ndarray] = []
        self.sentences: dict[str, int] = {}  # normalised sentence -> reference record (1-based)
        self.bigrams: list[frozenset[int]] = []
        self.records: list[int] = []
        self.lsh = MinHashLSH(threshold=NEAR_JACCARD, num_perm=NUM_PERM)
        with self.lsh.insertion_session() as session:
            for rec, text in enumerate(texts, 1):
                sentences, ids, starts = tokenised(text, vocab)
                grams.append(ngram_hashes(ids, NGRAM))
                for words, start in zip(sentences, starts, strict=True):
                    key = " ".join(words)
                    if len(words) < MIN_SENTENCE_TOKENS or key in self.sentences:
                        continue
                    self.sentences[key] = rec
                    big = ngram_hashes(ids[start : start + len(words)], 2)
                    session.insert(len(self.bigrams), self._mh(big), check_duplication=False)
                    self.bigrams.append(frozenset(big.tolist()))
                    self.records.append(rec)
        self.grams = np.unique(np.concatenate(grams)) if grams else np.zeros(0, dtype=np.uint64)

    def _mh(self, bigrams: np.ndarray):  # noqa: ANN202 - datasketch is untyped
        return self._minhash(hashvalues=self.sign(bigrams))

    def nearest(
        self, key: str, ids: np.ndarray, cache: dict[str, tuple[int, float] | None]
    ) -> tuple[int, float] | None:
        """(reference record, Jaccard) of the reference sentence nearest the sentence ``key`` (word ``ids``) at
        or above NEAR_JACCARD, if any."""
        if key in cache:
            return cache[key]
        if key in self.sentences:
            found: tuple[int, float] | None = (self.sentences[key], 1.0)
        else:
            big = ngram_hashes(ids, 2)
            mine = frozenset(big.tolist())
            best = (0, 0.0)
            for i in self.lsh.query(self._mh(big))[:MAX_CANDIDATES]:
                other = self.bigrams[i]
                jac = len(mine & other) / len(mine | other)
                if jac > best[1]:
                    best = (self.records[i], jac)
            found = best if best[1] >= NEAR_JACCARD else None
        cache[key] = found
        return found

    def known(self, grams: np.ndarray) -> np.ndarray:
        """Which of ``grams`` the reference has (binary search in its sorted 8-grams)."""
        if not len(grams) or not len(self.grams):
            return np.zeros(len(grams), dtype=bool)
        at = np.minimum(np.searchsorted(self.grams, grams), len(self.grams) - 1)
        return self.grams[at] == grams

    def replay(self, texts: Sequence[str]) -> list[NoteReplay]:
        """Every synthetic text against the reference."""
        cache: dict[str, tuple[int, float] | None] = {}
        out = []
        for text in texts:
            sentences, ids, starts = tokenised(text, self.vocab)
            h = ngram_hashes(ids, NGRAM)
            mask = self.known(h)
            run = longest_run(mask)
            exact: list[tuple[int, int, float]] = []
            near: list[tuple[int, int, float]] = []
            best = 0.0
            for i, (words, start) in enumerate(zip(sentences, starts, strict=True)):
                if len(words) < MIN_SENTENCE_TOKENS:
                    continue
                hit = self.nearest(" ".join(words), ids[start : start + len(words)], cache)
                if hit is None:
                    continue
                best = max(best, hit[1])
                (exact if hit[1] == 1.0 else near).append((i, hit[0], round(hit[1], 3)))
            out.append(
                NoteReplay(
                    span=run + NGRAM - 1 if run else 0,
                    ngrams=len(h),
                    shared=int(mask.sum()),
                    exact=tuple(exact),
                    near=tuple(near),
                    best_jaccard=round(best, 3),
                )
            )
        return out

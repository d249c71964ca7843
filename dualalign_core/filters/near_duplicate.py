"""Near-duplicate notes across the run: MinHash LSH over word shingles, keep the first in plan order.

The index is incremental and compact (:class:`DuplicateIndex`): per kept note, one integer per LSH band, and
no shingle sets: a candidate's shingles are rebuilt from its text (``note_text``) to confirm it exactly. So the
pipeline streams accepted notes patient by patient through :meth:`NearDuplicateFilter.cohort_checker` in
memory that grows by a few hundred bytes a note; :meth:`NearDuplicateFilter.check_cohort` (a list of bundles)
gives the same verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from dualalign_core.components import Filter, NoteBundle, Verdict

_TOKEN = re.compile(r"[a-z0-9]+(?:[./][a-z0-9]+)*")


def shingles(text: str, k: int) -> set[str]:
    """Word k-shingles of the lower-cased text (the whole text as one shingle when shorter than k)."""
    words = _TOKEN.findall(text.lower())
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


class DuplicateIndex:
    """Incremental MinHash LSH over kept notes: each band of a note's signature hashed to one integer, in one
    dict per band (bucket -> kept note numbers). LSH finds candidates (at a slightly lower threshold, for
    recall); the exact Jaccard of the shingle sets decides, so LSH false positives never reject and the
    reported value is exact. Ties go to the earliest kept note."""

    def __init__(self, threshold: float, k: int, num_perm: int, note_text: Callable[[str], str]):
        from datasketch import MinHash, MinHashLSH  # imported when a run filters, not when plugins are listed

        self.threshold, self.k, self.num_perm, self.note_text = threshold, k, num_perm, note_text
        params = MinHashLSH(threshold=max(0.05, threshold - 0.1), num_perm=num_perm)
        self.ranges = [(i * params.r, (i + 1) * params.r) for i in range(params.b)]
        self.buckets: list[dict[int, int | list[int]]] = [{} for _ in self.ranges]
        self.ids: list[str] = []  # kept note number -> note id
        self.known: set[str] = set()
        template = MinHash(num_perm=num_perm, seed=1)  # the permutations are the same for every note
        self.same: dict[str, Any] = {"permutations": template.permutations}
        if getattr(template, "scheme", None) is not None:  # datasketch >= 2 wants it said with the permutations
            self.same["scheme"] = template.scheme
        self._minhash = MinHash
        self.recent: dict[str, set[str]] = {}  # shingles of the notes of the batch being checked

    def check(self, note_id: str, text: str) -> Verdict | None:
        """The verdict on the next note in plan order; a note kept is indexed."""
        sh = shingles(text, self.k)
        self.recent[note_id] = sh
        mh = self._minhash(num_perm=self.num_perm, seed=1, **self.same)
        mh.update_batch([s.encode("utf-8") for s in sh])
        keys = [hash(mh.hashvalues[a:b].tobytes()) for a, b in self.ranges]
        found: set[int] = set()
        for bucket, key in zip(self.buckets, keys, strict=True):
            hit = bucket.get(key)
            if hit is not None:
                found.update(hit if isinstance(hit, list) else (hit,))
        best_id, best = None, 0.0
        for number in sorted(found):
            cand = self.ids[number]
            j = jaccard(sh, self._shingles_of(cand))
            if j > best:
                best_id, best = cand, j
        if best_id is not None and best >= self.threshold:
            return Verdict(
                f"near-duplicate of note {best_id} (Jaccard {best:.2f})", value=round(best, 4), threshold=self.threshold
            )
        if note_id not in self.known:
            number = len(self.ids)
            self.ids.append(note_id)
            self.known.add(note_id)
            for bucket, key in zip(self.buckets, keys, strict=True):
                hit = bucket.get(key)
                if hit is None:
                    bucket[key] = number
                elif isinstance(hit, list):
                    hit.append(number)
                else:
                    bucket[key] = [hit, number]
        return None

    def _shingles_of(self, note_id: str) -> set[str]:
        found = self.recent.get(note_id)
        return found if found is not None else shingles(self.note_text(note_id), self.k)


class _Checker:
    """Streams one patient's accepted notes at a time through a :class:`DuplicateIndex`."""

    def __init__(self, index: DuplicateIndex):
        self.index = index

    def add(self, bundles: Sequence[NoteBundle]) -> dict[str, Verdict]:
        self.index.recent = {}  # candidates outside this batch are read back by their text
        out = {}
        for b in bundles:
            verdict = self.index.check(b.note.id, b.note.text)
            if verdict is not None:
                out[b.note.id] = verdict
        return out


class NearDuplicateFilter(Filter):
    """Rejects a note whose shingle Jaccard with an earlier kept note is >= ``threshold`` (stage ``cohort``).

    LSH finds candidates; the exact Jaccard of the shingle sets confirms them, so the reported value is
    exact and LSH false positives never reject. Rejected notes are not indexed (no chains).
    """

    name = "near_duplicate"
    stage: ClassVar[str] = "cohort"
    default_on: ClassVar[bool] = True
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.8},
            "shingle_size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            "num_perm": {"type": "integer", "minimum": 16, "maximum": 1024, "default": 128},
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.threshold = float(self.options["threshold"])
        self.k = int(self.options["shingle_size"])
        self.num_perm = int(self.options["num_perm"])

    def check(self, bundle: NoteBundle, ctx: Any) -> Verdict | None:
        return None  # a cohort filter: see check_cohort

    def cohort_checker(self, ctx: Any, note_text: Callable[[str], str]) -> _Checker:
        """Streaming check: ``add`` each patient's accepted notes in plan order, patients in cohort order;
        ``note_text`` reads back an earlier accepted note's text (a candidate to confirm)."""
        return _Checker(DuplicateIndex(self.threshold, self.k, self.num_perm, note_text))

    def check_cohort(self, bundles: Sequence[NoteBundle], ctx: Any) -> dict[str, Verdict]:
        texts = {b.note.id: b.note.text for b in bundles}
        checker = self.cohort_checker(ctx, texts.__getitem__)
        return checker.add(bundles)

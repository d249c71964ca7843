"""Near-duplicate notes across the run: MinHash LSH over word shingles, keep the first in plan order."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    """|a & b| / |a | b| (1.0 for two empty sets); check_cohort inlines the same formula."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


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

    def check_cohort(self, bundles: Sequence[NoteBundle], ctx: Any) -> dict[str, Verdict]:
        from datasketch import MinHash, MinHashLSH  # imported when a run filters, not when plugins are listed

        # LSH at a slightly lower threshold for recall; exact Jaccard decides.
        lsh = MinHashLSH(threshold=max(0.05, self.threshold - 0.1), num_perm=self.num_perm)
        template = MinHash(num_perm=self.num_perm, seed=1)  # the permutations are the same for every note
        same = {"permutations": template.permutations}
        if getattr(template, "scheme", None) is not None:  # datasketch >= 2 wants it said with the permutations
            same["scheme"] = template.scheme
        kept: dict[str, tuple[set[str], int]] = {}
        out: dict[str, Verdict] = {}
        for b in bundles:
            sh = shingles(b.note.text, self.k)
            size = len(sh)
            mh = MinHash(num_perm=self.num_perm, seed=1, **same)
            mh.update_batch([s.encode("utf-8") for s in sh])
            best_id, best = None, 0.0
            for cand in lsh.query(mh):  # jaccard() inlined: a cohort of similar notes makes this loop long
                other, other_size = kept[cand]
                common = len(sh & other)
                j = common / (size + other_size - common) if size or other_size else 1.0
                if j > best:
                    best_id, best = cand, j
            if best_id is not None and best >= self.threshold:
                out[b.note.id] = Verdict(
                    f"near-duplicate of note {best_id} (Jaccard {best:.2f})",
                    value=round(best, 4),
                    threshold=self.threshold,
                )
                continue
            if b.note.id not in kept:
                lsh.insert(b.note.id, mh)
                kept[b.note.id] = (sh, size)
        return out

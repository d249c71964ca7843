"""Shards: one run split across batch-scheduler jobs without Ray (``run --shard K/N``, then ``merge``).

Every shard plans the whole cohort (the same personas and plans as an unsharded run) and makes the notes of
one contiguous block of the persona order, whole patients only, so a patient's history stays in one shard.
The shard spec is not part of the run id: a shard's records are those of the unsharded run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.errors import BadInput
from dualalign_core.records import Persona
from dualalign_core.run.store import DB_NAME, RunStore

_SPEC = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")  # ASCII digits only (int() reads any script's)


@frozen
class ShardSpec:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 1 <= K <= N")

    @classmethod
    def parse(cls, text: str, *, field: str = "--shard") -> ShardSpec:
        """``"K/N"`` with ``1 <= K <= N``; anything else is :class:`BadInput` naming ``field``."""
        m = _SPEC.fullmatch(text)
        if m is None or not 1 <= int(m[1]) <= int(m[2]):
            raise BadInput(f"{text!r} is not a shard K/N with 1 <= K <= N (e.g. 1/4)", field=field)
        return cls(int(m[1]), int(m[2]))

    def check_cohort(self, patients: int, *, field: str = "--shard") -> None:
        """A shard of ``patients`` that holds at least one of them, else :class:`BadInput` naming ``field``."""
        if self.count > patients:
            raise BadInput(
                f"shard {self} of {patients} patient(s) would be empty: use at most {patients} shards", field=field
            )

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ShardSpec:
        return cls(int(doc["index"]), int(doc["count"]))

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def persona_ids(self, personas: Sequence[Persona]) -> frozenset[str]:
        """The ids of this shard's block of ``personas`` (the cohort in plan order)."""
        n = len(personas)
        start, stop = (self.index - 1) * n // self.count, self.index * n // self.count
        return frozenset(p.id for p in personas[start:stop])


def stored_shard(run_dir: Path) -> tuple[bool, ShardSpec | None]:
    """Whether ``run_dir`` holds planned work, and the shard it is (``None``: the whole run)."""
    if not (run_dir / DB_NAME).exists():
        return False, None
    with RunStore(run_dir, readonly=True) as store:
        planned, doc = store.has_plans(), store.get_meta("shard")
    return planned, ShardSpec.from_dict(doc) if doc else None


def resolve_shard(run_dir: Path, shard: ShardSpec | None) -> ShardSpec | None:
    """The shard a run in ``run_dir`` makes: the stored one (``--resume`` without ``--shard`` continues it), or
    ``shard`` for a new run; a different spec than the stored run's is :class:`BadInput` naming ``--shard``."""
    planned, stored = stored_shard(run_dir)
    if not planned:
        return shard
    if shard is not None and shard != stored:
        held = f"shard {stored}" if stored else "a whole (unsharded) run"
        raise BadInput(f"{shard} differs from the run directory's: it holds {held}", file=str(run_dir), field="--shard")
    return stored


def manifest_fields(shard: ShardSpec | None) -> dict[str, Any]:
    """What a shard adds to its manifest (nothing for a whole run)."""
    return {"shard": shard.as_dict()} if shard is not None else {}


__all__ = ["ShardSpec", "manifest_fields", "resolve_shard", "stored_shard"]

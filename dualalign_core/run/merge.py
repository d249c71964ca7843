"""``dualalign merge``: shards of one run (``run --shard K/N``) become one run directory.

The shards must share one run id (config, seed and pipeline), cover 1..N once each and be complete. The
merged store holds the first shard's personas and plans and every shard's units, records, reply cache and
spend ledger; resuming it through :class:`~dualalign_core.run.pipeline.Pipeline` finds no unfinished note and
runs the cohort phase (cohort filters, refill of what they reject) as an unsharded run does, so its exports
equal the unsharded run's byte for byte. It is built in a temp sibling of ``--out`` and renamed at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.atomic import new_dir
from dualalign_core.config import NOT_IDENTITY
from dualalign_core.errors import BadInput, DualAlignError, RunFailed
from dualalign_core.plugins import Registry
from dualalign_core.run.lock import locked
from dualalign_core.run.manifest import add_llm_stats
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.run.resume import config_diff, stored_run
from dualalign_core.run.shard import ShardSpec
from dualalign_core.run.stats import UNIT_STATUSES, Stats
from dualalign_core.run.store import MANIFEST, RunStore, write_json_atomic
from dualalign_core.run.view import read_manifest


@frozen
class ShardRun:
    """What merging needs to know of one shard directory."""

    dir: Path
    shard: ShardSpec
    run_id: str
    config: dict[str, Any]
    pipeline: dict[str, Any]
    planned: int  # the shard's notes
    unfinished: int  # of those, never made or failed
    manifest: dict[str, Any]


def read_shard(path: Path) -> ShardRun:
    """The shard in ``path``; a directory that holds no shard is :class:`BadInput` naming it."""
    with RunStore(path, readonly=True) as store:
        doc = store.get_meta("shard")
        if doc is None or not store.has_plans():
            raise BadInput("holds no shard (made by dualalign run --shard K/N)", file=str(path))
        shard = ShardSpec.from_dict(doc)
        check_unit_statuses(store, path)
        mine, finished = shard.persona_ids(store.personas()), store.finished_units()
        planned = store.plan_count(mine)
        return ShardRun(
            path,
            shard,
            store.get_meta("run_id"),
            store.get_meta("config") or {},
            store.get_meta("pipeline") or {},
            planned,
            planned - sum(1 for _, p in store.iter_plans(mine) if p.id in finished),
            read_manifest(path / MANIFEST),
        )


def check_unit_statuses(store: RunStore, path: Path) -> None:
    """Every stored unit's status is one a run writes; a tampered one is :class:`BadInput` naming it."""
    unknown = sorted(set(store.unit_status().values()) - set(UNIT_STATUSES), key=str)
    if unknown:
        raise BadInput(
            f"unknown unit status {unknown[0]!r} (a run writes {', '.join(UNIT_STATUSES)}); the shard was altered",
            file=str(path / "run.sqlite"),
            field="units.status",
        )


def _difference(a: ShardRun, b: ShardRun) -> str:
    """The first key where two shards' configs (or else pipelines) differ, as a phrase."""
    ident = {k: v for k, v in a.config.items() if k not in NOT_IDENTITY}
    other = {k: v for k, v in b.config.items() if k not in NOT_IDENTITY}
    diff = config_diff(ident, other) or [(f"pipeline.{k}", x, y) for k, x, y in config_diff(a.pipeline, b.pipeline)]
    if not diff:
        return "another run id"
    key, mine, theirs = diff[0]
    return f"{key} is {mine!r} here, {theirs!r} in the others"


def check_shards(shards: Sequence[ShardRun]) -> list[ShardRun]:
    """The shards in shard order, once checked: one run, one N, each of 1..N once, each complete."""
    if not shards:
        raise BadInput("no shard directories given", field="SHARDS")
    run_id = Counter(s.run_id for s in shards).most_common(1)[0][0]  # the majority's (ties: the first given)
    ref = next(s for s in shards if s.run_id == run_id)
    for s in shards:
        if s.run_id != run_id:
            raise BadInput(
                f"shard {s.shard} of another run ({s.run_id}, not {run_id}: {_difference(s, ref)}); merge "
                "shards of one config, seed and pipeline",
                file=str(s.dir),
            )
    count = Counter(s.shard.count for s in shards).most_common(1)[0][0]
    by_index: dict[int, ShardRun] = {}
    for s in shards:
        if s.shard.count != count:
            raise BadInput(f"is shard {s.shard}, the others are shards of {count}", file=str(s.dir))
        if s.shard.index in by_index:
            raise BadInput(f"shard {s.shard} given twice: {by_index[s.shard.index].dir} and {s.dir}", field="SHARDS")
        by_index[s.shard.index] = s
    missing = [f"{k}/{count}" for k in range(1, count + 1) if k not in by_index]
    if missing:
        raise BadInput(f"shard {', '.join(missing)} missing: a merge needs all {count} shards", field="SHARDS")
    ordered = [by_index[k] for k in range(1, count + 1)]
    for s in ordered:
        if s.unfinished:
            raise BadInput(
                f"shard {s.shard} is incomplete: {s.unfinished} of {s.planned} units unfinished; finish it with "
                f"dualalign run --resume --shard {s.shard} --out {s.dir}",
                file=str(s.dir),
            )
    return ordered


def check_new_run_dir(out: Path) -> None:
    """``--out`` must be absent or an empty directory (a merge writes a new run)."""
    if out.is_dir() and any(out.iterdir()):
        raise BadInput("exists and is not empty; merge writes a new run directory", file=f"--out {out}")


def check_merge(dirs: Sequence[Path], out: Path) -> list[ShardRun]:
    """Everything a merge checks before it writes: ``out`` new, the shards those of one whole run."""
    check_new_run_dir(out)
    return check_shards([read_shard(Path(d)) for d in dirs])


def merge_shards(
    shards: Sequence[ShardRun],
    out: Path,
    *,
    registry: Registry | None = None,
    progress: Callable[[Stats], None] | None = None,
    max_cost_usd: float | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Merge checked shards (:func:`check_merge`) into the new run directory ``out``; returns its manifest.
    The merged run's cost budget is ``max_cost_usd`` if given, else shard 1's, against every shard's spend.
    Its cohort refill runs where ``executor`` says (default: here, locally; the shards' Ray cluster may be gone).
    Each shard is locked while it is read (a shard another process is resuming is refused, naming its pid)."""
    with ExitStack() as shard_locks:
        for s in shards:
            shard_locks.enter_context(locked(s.dir, create=False, what="shard"))
        how = {"executor": executor or "local", "ray_address": ray_address}
        return _merge(shards, out, registry=registry, progress=progress, max_cost_usd=max_cost_usd, how=how)


def _merge(
    shards: Sequence[ShardRun],
    out: Path,
    *,
    registry: Registry | None,
    progress: Callable[[Stats], None] | None,
    max_cost_usd: float | None,
    how: dict[str, Any],
) -> dict[str, Any]:
    with new_dir(out, "merge") as tmp:
        with RunStore(tmp) as store:
            for s in shards:
                with RunStore(s.dir, readonly=True) as other:
                    store.absorb(other, plans=s is shards[0], skip_meta=("shard",))
        llm: dict[str, Any] = {}
        for s in shards:
            llm = add_llm_stats(llm, s.manifest.get("llm") or {})
        started = min((s.manifest["started_at"] for s in shards if s.manifest.get("started_at")), default=None)
        write_json_atomic(tmp / MANIFEST, {"llm": llm} | ({"started_at": started} if started else {}))
        config, _ = stored_run(tmp, shards[0].manifest.get("config_path") or str(shards[0].dir))
        if config is None:
            raise BadInput("holds no config", file=str(shards[0].dir))
        config = config.override(max_cost_usd=max_cost_usd, **how)
        pipeline = Pipeline(config, tmp, registry=registry, resume=True, progress=progress)
        try:
            manifest = pipeline.run()  # no unfinished note: the cohort phase only
        except RunFailed as exc:  # nothing is kept: the merge is redone from the shards
            raise DualAlignError(f"merge failed, nothing written: {exc}") from exc
        manifest |= {
            "resumes": sum(int(s.manifest.get("resumes", 0)) for s in shards),
            "merged_from": [{"shard": str(s.shard), "dir": str(s.dir)} for s in shards],
        }
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


__all__ = ["ShardRun", "check_merge", "check_new_run_dir", "check_shards", "merge_shards", "read_shard"]

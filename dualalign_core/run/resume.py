"""A run's identity and how an invocation meets a stored run: the run id, config diffs, reconciling on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from dualalign_core.config import RunConfig, parse_config
from dualalign_core.errors import BadInput
from dualalign_core.records import canonical_json
from dualalign_core.run.lock import DirLock, acquire
from dualalign_core.run.store import DB_NAME, MANIFEST, RunStore
from dualalign_core.seeds import short_hash


def run_id_for(config: RunConfig, pipeline: dict[str, Any]) -> str:
    """Deterministic: the same effective config (seed included) run by the same resolved pipeline
    (:func:`~dualalign_core.run.build.resolved_pipeline`) gives the same run id; limits (the cost budget) are
    not part of it, so a run stopped by its budget continues under a raised one."""
    return "run-" + short_hash(canonical_json({"config": config.identity(), "pipeline": pipeline}), 12)


def _flat(doc: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(doc, dict) or not doc:
        return {prefix: doc}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_diff(mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, given, stored)`` for every key where two config documents differ."""
    a, b = _flat(mine), _flat(theirs)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def holds_run(run_dir: Path) -> bool:
    return (run_dir / MANIFEST).exists() or (run_dir / DB_NAME).exists()


def stored_run(run_dir: Path, path: str | None = None) -> tuple[RunConfig | None, str | None]:
    """The config (reported as ``path``) and run id a run directory stored (``None`` for each it lacks)."""
    if not (run_dir / DB_NAME).exists():
        return None, None
    with RunStore(run_dir) as store:
        doc, run_id = store.get_meta("config"), store.get_meta("run_id")
    return (parse_config(doc, path) if doc is not None else None), run_id


def reconcile(config: RunConfig, run_dir: Path, *, resume: bool) -> tuple[RunConfig, str | None]:
    """The config to run in ``run_dir`` and the stored run id, if it holds a run.

    A directory holding a run needs ``resume``; a config read from a document must then match the stored run's
    identity (the first difference is :class:`BadInput`); one built in code stands for the stored run. The
    limits and the executor are the invocation's (a raised budget continues a stopped run; ``--executor local``
    resumes a Ray run here), the rest is the run's.
    """
    if not holds_run(run_dir):
        return config, None
    if not resume:
        raise BadInput("run directory already holds a run; pass --resume to continue it", file=str(run_dir))
    stored_cfg, run_id = stored_run(run_dir, config.path)
    if stored_cfg is None:
        return config, run_id
    if not config.raw:  # built in code, not from a document: the stored run as it is
        return stored_cfg, run_id
    diff = config_diff(config.identity(), stored_cfg.identity())
    if diff:
        key, given, was = diff[0]
        more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
        raise BadInput(
            f"config differs from the run being resumed: {key} is {given!r} here, {was!r} in the "
            f"run{more}; resume with the same config or without one",
            file=config.path or str(run_dir),
            field=key,
        )
    # how the notes are made is the invocation's (a killed Ray run may resume locally), what they are the run's
    return attrs.evolve(stored_cfg, max_cost_usd=config.max_cost_usd, executor=config.executor), run_id


class Claim:
    """A pipeline's hold on its run directory (:func:`~dualalign_core.run.lock.acquire`), taken when it opens
    the store and released when it closes: a second process is refused naming the holder's pid, and so is a
    run another process started in the directory after this pipeline looked (two fresh runs on one ``--out``)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.expect_run = holds_run(run_dir)
        self.lock: DirLock | None = None

    def take(self) -> Path:
        """Lock the run directory (once) and return it."""
        if self.lock is not None:
            return self.run_dir
        lock = acquire(self.run_dir)
        if holds_run(self.run_dir) and not self.expect_run:
            lock.release()
            raise BadInput(
                "run directory already holds a run (another process started it meanwhile); pass --resume to "
                "continue it",
                file=str(self.run_dir),
            )
        self.lock, self.expect_run = lock, True
        return self.run_dir

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def check_same_pipeline(run_dir: Path, pipeline: dict[str, Any], path: str | None) -> None:
    """Refuse to resume a run with another resolved pipeline (a plugin installed, upgraded or removed since,
    or a component that resolves elsewhere): :class:`BadInput` listing every difference."""
    if not (run_dir / DB_NAME).exists():
        return
    with RunStore(run_dir) as store:
        stored = store.get_meta("pipeline")
    if stored is None:  # a run stored before the pipeline was recorded
        return
    diff = config_diff(pipeline, stored)
    if diff:
        lines = "; ".join(f"{key}: {given!r} now, {was!r} in the run" for key, given, was in diff[:8])
        more = f"; and {len(diff) - 8} more" if len(diff) > 8 else ""
        raise BadInput(
            f"the resolved pipeline differs from the run being resumed ({lines}{more}); reinstall "
            f"what the run used, or start a new run in another --out",
            file=path or str(run_dir),
            field=f"pipeline.{diff[0][0]}",
        )


__all__ = ["Claim", "check_same_pipeline", "config_diff", "holds_run", "reconcile", "run_id_for", "stored_run"]

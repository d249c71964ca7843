"""The run manifest (``manifest.json``): what ran, with which components and plugins, and how it ended."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from dualalign_core import __version__
from dualalign_core.config import RunConfig
from dualalign_core.jsonschemas import SCHEMA_VERSION
from dualalign_core.plugins import Registry
from dualalign_core.redact import redact_data
from dualalign_core.run.build import Components
from dualalign_core.run.store import MANIFEST
from dualalign_core.textio import read_json


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def compose_manifest(
    run_dir: Path,
    run_id: str,
    config: RunConfig,
    components: Components,
    registry: Registry,
    *,
    counts: dict[str, Any],
    fidelity: Any,
    **fields: Any,
) -> dict[str, Any]:
    """The manifest's content; ``started_at`` and ``resumes`` carry over from the one already there,
    ``fields`` (status, finished_at, stop_reason...) override."""
    path = run_dir / MANIFEST
    old: dict[str, Any] = read_json(path, what="run manifest") if path.exists() else {}
    c = components
    d = c.disease
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "dualalign_core_version": __version__,
        "run_id": run_id,
        "name": config.name,
        "seed": config.seed,
        "config": config.to_dict(),
        "config_path": config.path,
        "disease": {
            "name": d.name,
            "version": d.version,
            "plugin": d.plugin,
            "plugin_version": d.plugin_version,
            "prompt_version": d.prompt.version,
            "prompt_hash": d.prompt.hash,
        },
        "components": {
            kind: {"name": comp.name, "plugin": comp.plugin, "plugin_version": comp.plugin_version, "model": comp.model}
            for kind, comp in (
                ("personas", c.personas),
                ("trajectory", c.sampler),
                ("generator", c.generator),
                ("annotator", c.annotator),
            )
        },
        "filters": [
            {"name": f.name, "stage": f.stage, "plugin": f.plugin, "plugin_version": f.plugin_version}
            for f in c.filters
        ],
        "plugins": [p.as_dict() for p in registry.plugins.values()],
        "started_at": old.get("started_at", now()),
        "finished_at": None,
        "status": "running",
        "counts": counts,
        "fidelity": fidelity,
        "resumes": old.get("resumes", 0),
        "llm": old.get("llm", {}),
    }
    manifest.update(fields)
    return redact_data(manifest)  # a stop reason may quote a server's error, and the server may echo a key


def stored_llm_stats(run_dir: Path) -> dict[str, Any]:
    """The LLM stats the manifest in ``run_dir`` holds (``{}`` without one); a corrupt manifest is BadInput."""
    path = run_dir / MANIFEST
    return (read_json(path, what="run manifest").get("llm") or {}) if path.exists() else {}


def add_llm_stats(before: dict[str, Any], now_: dict[str, Any]) -> dict[str, Any]:
    """LLM runtime stats summed over invocations (a resumed run adds this invocation's to the stored ones):
    numbers add up per role, ``failures`` per reason; provider and model are this invocation's."""
    out: dict[str, Any] = {}
    for role in sorted(set(before) | set(now_)):
        a, b = before.get(role, {}), now_.get(role, {})
        merged = {**a, **b}
        for key in set(a) | set(b):
            x, y = a.get(key), b.get(key)
            if isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool):
                merged[key] = round(x + y, 8) if isinstance(x + y, float) else x + y
            elif isinstance(x, dict) and isinstance(y, dict):
                merged[key] = {k: x.get(k, 0) + y.get(k, 0) for k in sorted(set(x) | set(y))}
        out[role] = merged
    return out


def resumes_of(run_dir: Path) -> int:
    """How often the run in ``run_dir`` was resumed (0 without a readable manifest)."""
    path = run_dir / MANIFEST
    if not path.exists():
        return 0
    try:
        return int(json.loads(path.read_text()).get("resumes", 0))
    except (ValueError, OSError):
        return 0


__all__ = ["add_llm_stats", "stored_llm_stats", "compose_manifest", "now", "resumes_of"]

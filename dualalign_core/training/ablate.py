"""``dualalign ablate``: the paper's experiments as one command, one results table (markdown + JSON).

Arms: gold only; gold + unaligned synthetic (uniform personas and symptoms, no trajectory); gold + DualAlign
synthetic at density multipliers 1x/5x/10x; DualAlign synthetic only. Each synthetic run is generated once
(resumed when already there) from a base run config; every arm is scored on the same held-out gold test split,
or on ``[ablation] test`` (a separate JSONL) when given. ``[ablation] mixing`` (and an arm's own ``mixing``)
sets how synthetic sentences join the gold: ratio, class balance, loss weight (:class:`~.data.Mixing`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import attrs

from dualalign_core.atomic import atomic_write_json, atomic_write_text
from dualalign_core.config import ComponentSpec, RunConfig, load_config
from dualalign_core.errors import BadInput
from dualalign_core.jsonschemas import validate
from dualalign_core.training.collapse import collapsed
from dualalign_core.training.data import Mixing, assemble, check_labels, load_gold, run_examples, task_view

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_ARMS: tuple[dict[str, Any], ...] = (
    {"name": "gold only", "data": "gold"},
    {"name": "gold + unaligned 5x", "data": "gold+synthetic", "synthetic": "unaligned", "multiplier": 5},
    {"name": "gold + DualAlign 1x", "data": "gold+synthetic", "synthetic": "dualalign", "multiplier": 1},
    {"name": "gold + DualAlign 5x", "data": "gold+synthetic", "synthetic": "dualalign", "multiplier": 5},
    {"name": "gold + DualAlign 10x", "data": "gold+synthetic", "synthetic": "dualalign", "multiplier": 10},
    {"name": "DualAlign only 5x", "data": "synthetic", "synthetic": "dualalign", "multiplier": 5},
)
COLUMNS = (
    "arm",
    "task",
    "train_gold",
    "train_synthetic",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "majority_macro_f1",
    "best_valid_macro_f1",
)


def load_ablation(path: str | Path) -> dict[str, Any]:
    """Read and validate an ablation config; relative paths are resolved against its directory."""
    from dualalign_core.textio import read_text

    path = Path(path)
    try:
        doc = tomllib.loads(read_text(path, what="config file"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"invalid TOML: {exc}", file=str(path)) from None
    validate(doc, "ablation", file=str(path))
    base = path.parent
    ab, syn = doc["ablation"], doc["synthetic"]
    ab["gold"] = str(base / ab["gold"])
    if "test" in ab:
        ab["test"] = str(base / ab["test"])
    ab["out"] = str(base / ab.get("out", f"runs/ablation-{ab.get('name', path.stem)}"))
    syn["config"] = str(base / syn["config"])
    model = doc["trainer"].get("model")
    if model and (base / model).exists():
        doc["trainer"]["model"] = str(base / model)
    doc.setdefault("arms", [dict(a) for a in DEFAULT_ARMS])
    for i, arm in enumerate(doc["arms"]):
        if arm["data"] != "gold" and "synthetic" not in arm:
            arm["synthetic"] = "dualalign"
        if arm["data"] != "gold":
            arm.setdefault("multiplier", 5)
        elif "synthetic" in arm:
            raise BadInput("a gold-only arm takes no synthetic data", file=str(path), field=f"arms[{i}].synthetic")
    doc["_path"] = str(path)
    return doc


def synthetic_config(base: RunConfig, kind: str, multiplier: float, doc: dict[str, Any]) -> RunConfig:
    """The base run config for one synthetic arm: multiplier (and patients) set; unaligned swaps samplers."""
    cfg = base.override(multiplier=float(multiplier), patients=doc["synthetic"].get("patients"))
    if kind == "unaligned":
        un = doc["synthetic"].get("unaligned", {})
        cfg = attrs.evolve(
            cfg,
            personas=ComponentSpec(un.get("personas", "uniform")),
            trajectory=ComponentSpec(un.get("trajectory", "uniform"), dict(base.trajectory.options)),
        )
    return cfg


def make_run(cfg: RunConfig, run_dir: Path) -> Path:
    """Generate (or resume) one synthetic run."""
    from dualalign_core.run.pipeline import Pipeline

    exists = (run_dir / "run.sqlite").exists()
    pipeline = Pipeline(cfg, run_dir, resume=exists)
    try:
        manifest = pipeline.run()
    finally:
        pipeline.close()
    if manifest.get("status") not in ("finished", "finished_with_failures"):
        raise BadInput(f"synthetic run did not finish: {manifest.get('status')}", file=str(run_dir))
    return run_dir


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def run_ablation(path: str | Path, *, log: Any = None) -> dict[str, Any]:
    """Every arm x task: generate synthetic data as needed, train, score on the gold test split."""
    from dualalign_core.training import build_trainer, score

    doc = load_ablation(path)
    ab, out = doc["ablation"], Path(doc["ablation"]["out"])
    seed, tasks = ab.get("seed", 0), ab.get("tasks", ["binary", "multiclass"])
    split = ab.get("gold_split", [0.6, 0.2, 0.2])
    binary_via = ab.get("binary_via", "labels")
    gold = load_gold(ab["gold"])
    final = load_gold(ab["test"]) if ab.get("test") else None
    base = load_config(doc["synthetic"]["config"])
    runs: dict[tuple[str, float], tuple[list[Any], list[str]]] = {}
    labels: list[str] = []
    for arm in doc["arms"]:
        if arm["data"] != "gold":
            key = (arm["synthetic"], float(arm["multiplier"]))
            if key not in runs:
                run_dir = out / "runs" / f"{key[0]}-{key[1]:g}x"
                _say(log, f"synthetic run {run_dir.name}")
                runs[key] = run_examples(make_run(synthetic_config(base, *key, doc), run_dir))
            labels = labels or runs[key][1]
    if not labels:  # gold-only arms: the base config's disease pack gives the label space
        from dualalign_core.plugins import get_registry
        from dualalign_core.run.build import resolve_disease

        pack = resolve_disease(base, get_registry())
        labels = [pack.negative_label, *pack.labels]
    check_labels(gold, labels, ab["gold"])
    if final is not None:
        check_labels(final, labels, ab["test"])
    trainer_spec = doc["trainer"]
    options = dict(trainer_spec.get("options", {}))
    if trainer_spec.get("model"):
        options["model"] = trainer_spec["model"]
    rows = []
    trained: dict[tuple[str, str], tuple[Path, dict[str, Any], Any]] = {}  # (arm, labels learned) -> model
    for arm in doc["arms"]:
        synthetic = runs[(arm["synthetic"], float(arm["multiplier"]))][0] if arm["data"] != "gold" else []
        mixing = Mixing(**{**ab.get("mixing", {}), **arm.get("mixing", {})})
        splits = assemble(arm["data"], synthetic, gold, seed=seed, gold_split=split, mixing=mixing)
        for task in tasks:
            learn = "multiclass" if task == "binary" and binary_via == "labels" else task  # see train_model
            train, trained_labels = task_view(splits.train, labels, learn)
            valid, _ = task_view(splits.valid, labels, learn)
            test, task_labels = task_view(final if final is not None else splits.test, labels, task)
            if (arm["name"], learn) in trained:  # a binary-via-labels model is the arm's 6-way model: one training
                model_dir, summary, cls = trained[(arm["name"], learn)]
                _say(log, f"{arm['name']} / {task}: the model trained on the pack's labels above")
            else:
                _say(log, f"{arm['name']} / {task}: training on {len(train)} sentences")
                trainer = build_trainer(trainer_spec["name"], options, field="trainer")
                model_dir = out / "models" / f"{slug(arm['name'])}-{task}"
                summary, cls = trainer.train(train, valid, trained_labels, model_dir), type(trainer)
                trained[(arm["name"], learn)] = (model_dir, summary, cls)
            meta = {"task": task, "labels": task_labels, "trained_labels": trained_labels if learn != task else None}
            metrics = score(collapsed(cls.load(model_dir), meta), test, task_labels)
            rows.append(
                {
                    "arm": arm["name"],
                    "task": task,
                    "data": arm["data"],
                    "synthetic": arm.get("synthetic"),
                    "multiplier": arm.get("multiplier"),
                    "train_gold": sum(e.source == "gold" for e in train),
                    "train_synthetic": sum(e.source == "synthetic" for e in train),
                    "test": len(test),
                    "accuracy": round(metrics["accuracy"], 4),
                    "macro_f1": round(metrics["macro_f1"], 4),
                    "weighted_f1": round(metrics["weighted_f1"], 4),
                    "majority_macro_f1": round(metrics["majority_baseline"]["macro_f1"], 4),
                    "mixing": mixing.as_dict(),
                    "warnings": summary.get("warnings", []),
                    "best_valid_macro_f1": summary.get("best_valid_macro_f1"),
                    "model_dir": str(model_dir),
                    "metrics": metrics,
                }
            )
    result = {
        "config": doc["_path"],
        "name": ab.get("name"),
        "seed": seed,
        "trainer": trainer_spec["name"],
        "model": options.get("model"),
        "gold": ab["gold"],
        "test": ab.get("test"),
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", result)  # written whole or not at all, like every output
    atomic_write_text(out / "results.md", markdown(result))
    result["out"] = str(out)
    return result


def markdown(result: dict[str, Any]) -> str:
    """The results table: one row per arm and task, scores on the held-out gold test split."""
    lines = [
        f"# Ablation: {result.get('name') or ''}".rstrip(),
        "",
        f"trainer `{result['trainer']}`, model `{result.get('model')}`, gold `{result['gold']}`, "
        f"seed {result['seed']}; scores on "
        + (f"`{result['test']}`." if result.get("test") else "the held-out gold test split."),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in result["rows"]:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _say(log: Any, message: str) -> None:
    if log is not None:
        log(message)

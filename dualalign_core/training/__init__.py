"""Train and evaluate sentence classifiers through the trainer registry (the core never imports torch).

A model directory holds whatever the trainer saves plus ``dualalign-model.json``: the trainer's name, the task,
the label space and the data it saw, so ``evaluate`` can restore it through the same trainer.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dualalign_core.atomic import atomic_write_text, check_dir_target, replace_dir
from dualalign_core.components import Classifier, Example, Trainer
from dualalign_core.errors import BadInput
from dualalign_core.textio import read_json
from dualalign_core.training.collapse import BINARY_VIA, collapsed
from dualalign_core.training.data import (
    Mixing,
    assemble,
    check_labels,
    load_gold,
    run_examples,
    task_view,
)
from dualalign_core.training.metrics import report

MODEL_META = "dualalign-model.json"
MODEL_KIND = "model"  # the output marker's kind: `train --out` replaces only an earlier model directory


def build_trainer(name: str, options: dict[str, Any], *, field: str = "--trainer") -> Trainer:
    """Instantiate a registered trainer, validating its options against its ``options_schema``."""
    from dualalign_core.plugins import get_registry

    return get_registry().create("trainer", name, options, field_path=field)


def pack_labels(disease: str | None) -> list[str]:
    """A registered disease pack's label space: its negative label first, then its labels (``None``: the one
    installed pack; with several installed, bad input naming them)."""
    from dualalign_core.disease import installed_pack_name
    from dualalign_core.plugins import get_registry

    registry = get_registry()
    name = installed_pack_name(disease, registry.names("disease"))
    pack = registry.get("disease", name, field_path="--disease")
    return [pack.negative_label, *pack.labels]


def train_model(
    run_dir: str | Path | None,
    out_dir: str | Path,
    *,
    task: str,
    trainer: str = "lora",
    options: dict[str, Any] | None = None,
    gold: str | Path | None = None,
    mix: str | None = None,
    seed: int = 0,
    gold_split: Sequence[float] = (0.6, 0.2, 0.2),
    disease: str | None = None,
    mixing: Mixing | None = None,
    binary_via: str = "labels",
) -> dict[str, Any]:
    """Train on a run's sentences and/or a gold set, then score the held-out test split.

    The label space (negative label first) comes from the run's disease pack, else from ``disease`` (a
    registered pack; the one installed pack when neither is given). ``mixing`` samples and weights the
    synthetic part. A binary model learns the pack's labels and answers symptom-or-not
    (``binary_via = "labels"``, :mod:`~.collapse`), or learns the binary labels themselves (``"binary"``).
    """
    if run_dir is None and gold is None:
        raise BadInput("give a run directory, a gold set, or both", field="RUN_DIR")
    if binary_via not in BINARY_VIA:
        raise BadInput(f"unknown --binary-via {binary_via!r} (labels or binary)", field="--binary-via")
    rank0 = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes and scores
    if rank0:
        check_dir_target(out_dir, MODEL_KIND, protect=[run_dir] if run_dir else [])  # before any work
    synthetic, labels = run_examples(run_dir) if run_dir is not None else ([], [])
    if disease is not None or run_dir is None:
        labels = pack_labels(disease)
    gold_examples = load_gold(gold) if gold is not None else None
    if gold_examples is not None:
        check_labels(gold_examples, labels, str(gold))
    mix = mix or ("gold+synthetic" if gold_examples and synthetic else "gold" if gold_examples else "synthetic")
    mixing = mixing or Mixing()
    splits = assemble(mix, synthetic, gold_examples, seed=seed, gold_split=gold_split, mixing=mixing)
    learn = "multiclass" if task == "binary" and binary_via == "labels" else task  # what the model is trained on
    train, trained_labels = task_view(splits.train, labels, learn)
    valid, _ = task_view(splits.valid, labels, learn)
    test, task_labels = task_view(splits.test, labels, task)
    if not train:
        raise BadInput(f"no training sentences for data mix {mix!r}", field="RUN_DIR")
    component = build_trainer(trainer, dict(options or {}))
    out_dir = Path(out_dir)
    meta: dict[str, Any] = {
        "trainer": trainer,
        "plugin": component.plugin,
        "plugin_version": component.plugin_version,
        "task": task,
        "labels": task_labels,
        "trained_labels": trained_labels if learn != task else None,
        "negative_label": labels[0],
        "pack_labels": labels,  # what gold may carry: evaluate refuses anything else
        "mix": mix,
        "mixing": mixing.as_dict(),
        "seed": seed,
        "run_dir": str(run_dir) if run_dir else None,
        "gold": str(gold) if gold else None,
        "sizes": {
            "train": len(train),
            "valid": len(valid),
            "test": len(test),
            "train_gold": sum(e.source == "gold" for e in train),
            "train_synthetic": sum(e.source == "synthetic" for e in train),
        },
    }
    if not rank0:  # other ranks train in lockstep; the loop saves on rank 0 only
        t0 = time.perf_counter()
        summary = component.train(train, valid, trained_labels, out_dir)
        return {
            "model_dir": str(out_dir),
            **meta,
            "train_seconds": round(time.perf_counter() - t0, 2),
            "summary": summary,
        }
    # built in a temp sibling, renamed onto out_dir (replacing only an earlier model directory) when done
    with replace_dir(out_dir, MODEL_KIND, protect=[run_dir] if run_dir else []) as tmp:
        t0 = time.perf_counter()
        summary = component.train(train, valid, trained_labels, tmp)
        meta["train_seconds"] = round(time.perf_counter() - t0, 2)
        meta["warnings"] = list(summary.get("warnings", []))
        result = {"model_dir": str(out_dir), **meta, "summary": summary}
        (tmp / MODEL_META).write_text(json.dumps(meta, indent=2))
        (tmp / "train_summary.json").write_text(json.dumps(summary, indent=2))
        if test:
            model = collapsed(type(component).load(tmp), meta)
            result["test"] = {**score(model, test, task_labels), "warnings": meta["warnings"]}
            (tmp / "test_metrics.json").write_text(json.dumps(result["test"], indent=2))
    return result


def model_meta(model_dir: str | Path) -> tuple[type[Trainer], dict[str, Any]]:
    """The trainer that made ``model_dir`` and its checked ``dualalign-model.json``; :class:`BadInput` naming
    the file and field when the directory is not one or its metadata is broken."""
    from dualalign_core.plugins import get_registry

    path = Path(model_dir) / MODEL_META
    if not path.is_file():
        raise BadInput(f"not a model directory (no {MODEL_META})", file=str(model_dir))
    meta = read_json(path, what="model metadata")
    if not isinstance(meta, dict):
        raise BadInput("model metadata is not a JSON object", file=str(path))
    labels = meta.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise BadInput("expected a list of at least two label names", file=str(path), field="labels")
    if meta.get("task") not in ("binary", "multiclass"):
        raise BadInput(f"unknown task {meta.get('task')!r} (binary or multiclass)", file=str(path), field="task")
    if not isinstance(meta.get("negative_label", labels[0]), str):
        raise BadInput("expected a label name", file=str(path), field="negative_label")
    if not isinstance(meta.get("trainer"), str):
        raise BadInput("expected the name of a registered trainer", file=str(path), field="trainer")
    return get_registry().get("trainer", meta["trainer"], file=str(path), field_path="trainer"), meta


def check_trained_model(model_dir: str | Path) -> dict[str, Any]:
    """Cheap checks before any work: the metadata (:func:`model_meta`) and the trainer's own files check."""
    cls, meta = model_meta(model_dir)
    cls.check(model_dir)
    return meta


def load_model(model_dir: str | Path) -> tuple[Classifier, dict[str, Any]]:
    """Restore a trained classifier through the trainer that made it."""
    cls, meta = model_meta(model_dir)
    cls.check(model_dir)
    return collapsed(cls.load(model_dir), meta), meta


def score(model: Classifier, examples: Sequence[Example], labels: Sequence[str]) -> dict[str, Any]:
    """Predict and compute the metrics report (subgroups from each example's ``groups``)."""
    predictions = model.predict([e.text for e in examples])
    return report([e.label for e in examples], predictions, labels, [e.groups for e in examples])


def evaluate_model(model_dir: str | Path, gold: str | Path, *, out: str | Path | None = None) -> dict[str, Any]:
    """Score a saved model on a gold JSONL (mapped to the model's task); writes ``metrics.json``."""
    examples = load_gold(gold)
    model, meta = load_model(model_dir)
    if meta["task"] == "binary":
        negative = meta.get("negative_label", meta["labels"][0])
        known = meta.get("pack_labels") or meta.get("trained_labels")
        if known:  # (a binary model older than pack_labels trained on binary labels: the gold is not checked)
            check_labels(examples, [*known, *(x for x in meta["labels"] if x not in known)], str(gold))
        examples, labels = task_view(examples, [negative], "binary")
    else:
        check_labels(examples, meta["labels"], str(gold))
        labels = meta["labels"]
    result = {
        "model_dir": str(model_dir),
        "gold": str(gold),
        "task": meta["task"],
        **score(model, examples, labels),
        "warnings": meta.get("warnings", []),
    }
    target = Path(out) if out else Path(model_dir) / "metrics.json"
    atomic_write_text(target, json.dumps(result, indent=2), field=None)
    return result


__all__ = [
    "MODEL_META",
    "Mixing",
    "build_trainer",
    "check_trained_model",
    "evaluate_model",
    "load_model",
    "pack_labels",
    "score",
    "train_model",
]

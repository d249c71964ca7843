"""The alignment audit report: ``dualalign report RUN_DIR`` writes one self-contained HTML file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from dualalign_core.atomic import atomic_write_text, check_file_target
from dualalign_core.errors import BadInput
from dualalign_core.run.store import DB_NAME
from dualalign_core.run.view import RunView

__all__ = ["build_report", "collect_metrics", "write_atomic"]


def collect_metrics(run_dir: str | Path, *, embeddings: bool = True) -> dict[str, Any]:
    """Every number the report shows (JSON-ready)."""
    from dualalign_core.report.measures import collect

    with RunView(run_dir) as view:
        if not view.has_plans():
            raise BadInput(
                "the run has no plans yet (it stopped before planning): nothing to report; continue "
                "it with `dualalign run CONFIG --out RUN_DIR --resume`",
                file=str(run_dir),
            )
        return collect(view, embeddings=embeddings)


def _is_report(path: Path) -> bool:
    """An existing file we may overwrite: an earlier HTML report or metrics JSON of ours."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
            if b"<title>DualAlign alignment audit" in head:
                return True
            if not head.startswith(b"{") or path.stat().st_size > 256 * 2**20:
                return False
            data = json.loads(head + fh.read())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("run"), dict) and "run_id" in data["run"] and "counts" in data


def write_atomic(path: Path, text: str, *, field: str = "--out") -> None:
    """Write via a temp file beside ``path`` and rename into place; an existing file is replaced only if it is
    an earlier report (never a run's own file, a directory, or a file of someone else's)."""
    atomic_write_text(path, text, field=field, owned=_is_report, what="report")


def build_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    embeddings: bool = True,
    json_out: str | Path | None = None,
    reference: str | Path | None = None,
    control: str | Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write the HTML report (default ``RUN_DIR/report.html``), its scorecard (``scorecard.json`` beside it;
    realism and replay with ``reference``) and, with ``json_out``, its numbers as JSON; returns the HTML path
    and the metrics. Every target is checked before any work."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover
        raise BadInput("the report needs matplotlib: pip install 'dualalign-core[report]'", field="report") from None
    from dualalign_core.report.html import render

    path = Path(out) if out else Path(run_dir) / "report.html"
    check_file_target(path, field="--out", owned=_is_report, what="report")
    if json_out is not None:
        check_file_target(json_out, field="--json", owned=_is_report, what="report")
        if Path(json_out).resolve() == path.resolve():
            raise BadInput("is the same file as --out; choose another path", file=str(json_out), field="--json")
    scorecard_path = _check_scorecard(path)
    try:
        metrics = collect_metrics(run_dir, embeddings=embeddings)
        card = _scorecard(run_dir, metrics, embeddings, reference, control)
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"cannot read the run database: {exc}", file=str(Path(run_dir) / DB_NAME)) from None
    metrics["scorecard"] = card.as_dict()
    write_atomic(path, render(metrics))
    _write_scorecard(card, scorecard_path)
    if json_out is not None:
        write_atomic(Path(json_out), json.dumps(metrics, indent=1, sort_keys=True, default=str) + "\n", field="--json")
    return path, metrics


# -- the scorecard (dualalign_core.score): one block, kept apart from the sections above ----------------------
def _check_scorecard(html_path: Path) -> Path:
    from dualalign_core.score import SCORECARD, check_target

    return check_target(html_path.parent / SCORECARD, field="--out")


def _scorecard(
    run_dir: str | Path,
    metrics: dict[str, Any],
    embeddings: bool,
    reference: str | Path | None,
    control: str | Path | None,
) -> Any:
    """Score the run, reusing the report's embedding similarity."""
    from dualalign_core.score import score_run

    similarity = metrics.get("diversity", {}).get("overall", {}).get("embedding_similarity")
    return score_run(
        run_dir, reference=reference, control=control, embeddings=embeddings, embedding_similarity=similarity
    )


def _write_scorecard(card: Any, path: Path) -> None:
    from dualalign_core.score import write_scorecard

    write_scorecard(card, path, field="--out")

"""The alignment audit report: ``dualalign report RUN_DIR`` writes one self-contained HTML file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dualalign_core.report.view import RunView

__all__ = ["RunView", "build_report", "collect_metrics", "write_atomic"]


def collect_metrics(run_dir: str | Path, *, embeddings: bool = True) -> dict[str, Any]:
    """Every number the report shows (JSON-ready)."""
    from dualalign_core.report.metrics import collect

    with RunView(run_dir) as view:
        return collect(view, embeddings=embeddings)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory and rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_report(run_dir: str | Path, out: str | Path | None = None, *, embeddings: bool = True
                 ) -> tuple[Path, dict[str, Any]]:
    """Write the HTML report (default ``RUN_DIR/report.html``); returns its path and the metrics."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover
        from dualalign_core.errors import BadInput

        raise BadInput("the report needs matplotlib: pip install 'dualalign-core[report]'", field="report") from None
    from dualalign_core.report.html import render

    metrics = collect_metrics(run_dir, embeddings=embeddings)
    path = Path(out) if out else Path(run_dir) / "report.html"
    write_atomic(path, render(metrics))
    return path, metrics

"""The rich progress display: records done / rejected / failed / cost so far."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RunProgress:
    """Context manager with an ``update(stats)`` callback for the pipeline."""

    def __init__(self, *, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]notes"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rejected {task.fields[rejected]} · failed {task.fields[failed]} · ${task.fields[cost]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.task: Any = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, stats: Any) -> None:
        fields = {"rejected": stats.rejected, "failed": stats.failed, "cost": f"{stats.usage.cost_usd:.4f}"}
        if self.task is None:
            self.task = self.progress.add_task("notes", total=stats.total, completed=stats.done, **fields)
        else:
            self.progress.update(self.task, total=stats.total, completed=stats.done, **fields)

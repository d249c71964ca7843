"""Error types the CLI maps to exit codes: BadInput -> 2, RunFailed -> 1."""

from __future__ import annotations


class DualAlignError(Exception):
    """Base class for errors the CLI reports without a traceback."""


class BadInput(DualAlignError):
    """A config, table, argument or input file is invalid. Names the file and the field."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        self.file = file
        self.field = field
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(DualAlignError):
    """A plugin failed to load or register (fatal only under DUALALIGN_STRICT_PLUGINS=1)."""


class RunFailed(DualAlignError):
    """A run stopped before finishing (it can be resumed with --resume)."""

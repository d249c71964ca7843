"""Error types the CLI maps to exit codes: BadInput and PluginError -> 2, RunFailed and ComponentError -> 1,
Interrupted -> 130 (see ``dualalign_core.cli.handled``, the one error boundary)."""

from __future__ import annotations

from typing import Any


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
    """A plugin failed to load or register (fatal only under DUALALIGN_STRICT_PLUGINS=1), or a component it
    registered failed to start (its constructor raised)."""

    def __init__(self, message: str, *, plugin: str | None = None, component: str | None = None):
        self.plugin = plugin
        self.component = component
        super().__init__(message)


class ComponentError(DualAlignError):
    """A component raised while it ran: the plugin's failure, not the host's. Carries the original exception
    (``__cause__``) and, when the original carried one, what the failed call cost (``usage``)."""

    def __init__(self, message: str, *, plugin: str | None = None, component: str | None = None, usage: Any = None):
        self.plugin = plugin
        self.component = component
        if usage is not None:
            self.usage = usage
        super().__init__(message)


class RunFailed(DualAlignError):
    """A run stopped before finishing (it can be resumed with --resume)."""


class Interrupted(DualAlignError):
    """The user interrupted a command (Ctrl-C); the message says how to continue."""

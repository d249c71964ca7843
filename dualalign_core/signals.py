"""SIGTERM handled as SIGINT is: what a batch scheduler sends at its time limit stops a command like Ctrl-C.

While a command runs (:func:`interrupts`, entered by the CLI's error boundary), SIGTERM calls whatever handles
SIGINT at that moment: inside ``asyncio.run`` that cancels the main task, so a run stops cleanly, marks its
manifest ``interrupted`` and prints how to resume; elsewhere it raises ``KeyboardInterrupt``. The exit code
tells them apart (:func:`exit_code`: 143 after SIGTERM, 130 after SIGINT). Ray's ``init`` installs its own
SIGTERM handler (``sys.exit``): :func:`reclaim` puts this one back.

A plugin that raises ``KeyboardInterrupt`` inside a unit is a request to stop: :func:`interrupt_from_plugin`
turns it into a clean interrupt of the run where this process handles signals, a failed unit elsewhere
(a Ray replica).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_state: dict[str, Any] = {"active": 0, "received": None, "plugin_interrupted": False}


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: remember it, then do what SIGINT does now."""
    _state["received"] = signal.SIGTERM
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not _on_sigterm:
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """SIGTERM stops the block as SIGINT does; the previous SIGTERM handler is restored after it. Outside the
    main thread (signals cannot be handled there) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    if not _state["active"]:
        _state.update(received=None, plugin_interrupted=False)
    _state["active"] += 1
    try:
        yield
    finally:
        _state["active"] -= 1
        signal.signal(signal.SIGTERM, previous)


def reclaim() -> None:
    """Put this module's SIGTERM handler back (after a library such as Ray replaced it), if a block is active."""
    if _state["active"] and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def exit_code() -> int:
    """130 for an interrupt, 143 when it came from SIGTERM."""
    return EXIT_CODES[_state["received"] or signal.SIGINT]


def signal_name() -> str:
    """``SIGTERM`` or ``SIGINT``: what interrupted the command (SIGINT when nothing did)."""
    return signal.Signals(_state["received"] or signal.SIGINT).name


def stop_reason() -> str:
    """The manifest's ``stop_reason`` for an interrupted run."""
    return "interrupted by SIGTERM" if _state["received"] == signal.SIGTERM else "interrupted by the user"


def interrupt_from_plugin() -> None:
    """A plugin raised ``KeyboardInterrupt``: stop the command as Ctrl-C does, if this process handles signals
    (the caller then reports the plugin's fault as a failed unit, which the interrupt overtakes). Once per
    command: units raising it together make one interrupt, not the second Ctrl-C that aborts the clean-up."""
    if _state["active"] and not _state["plugin_interrupted"] and threading.current_thread() is threading.main_thread():
        _state["plugin_interrupted"] = True
        signal.raise_signal(signal.SIGINT)


__all__ = ["EXIT_CODES", "exit_code", "interrupt_from_plugin", "interrupts", "reclaim", "signal_name", "stop_reason"]

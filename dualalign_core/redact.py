"""Secrets out of everything DualAlign prints or stores: one redaction, applied where errors are formatted for
the console (:func:`dualalign_core.cli.report_error`), stored (``units.error``), written to the manifest and
logged.

A secret is the value of an environment variable that holds a key: one a backend reads (its ``api_key_env``,
registered when it is built), one ``[ray] forward_env`` names (registered when a run's components are built),
or one whose name says so (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``). Values are read when a
text is redacted, so a key set after registration is still caught; values shorter than
:data:`MIN_SECRET_LEN` are left alone (they would blank ordinary words and numbers).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

MIN_SECRET_LEN = 8
_KEY_NAME = re.compile(r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_registered: set[str] = set()


def register(*names: str) -> None:
    """Treat these environment variables' values as secrets from now on (empty names are ignored)."""
    _registered.update(n for n in names if n)


def secrets_in_env() -> list[tuple[str, str]]:
    """(variable, value) of every secret set now, longest value first (a key holding another is replaced whole)."""
    found = {
        (name, value)
        for name, value in os.environ.items()
        if (name in _registered or _KEY_NAME.search(name)) and len(value) >= MIN_SECRET_LEN
    }
    return sorted(found, key=lambda nv: (-len(nv[1]), nv[0]))


def redact(text: str, found: list[tuple[str, str]] | None = None) -> str:
    """``text`` with every secret's value replaced by ``<NAME redacted>`` (``found``: :func:`secrets_in_env`)."""
    for name, value in secrets_in_env() if found is None else found:
        if value in text:
            text = text.replace(value, f"<{name} redacted>")
    return text


def redact_data(data: Any, found: list[tuple[str, str]] | None = None) -> Any:
    """JSON-like ``data`` (dicts, lists, tuples, strings) with every string redacted; keys included."""
    found = secrets_in_env() if found is None else found
    if not found:
        return data
    if isinstance(data, str):
        return redact(data, found)
    if isinstance(data, dict):
        return {redact_data(k, found): redact_data(v, found) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(redact_data(v, found) for v in data)
    return data


def redact_optional(text: str | None) -> str | None:
    """:func:`redact` that passes ``None`` through (an optional error column)."""
    return None if text is None else redact(text)


def install_log_redaction() -> None:
    """Redact every log record's message (and its traceback) as it is made, whatever handler prints it.

    Idempotent: wraps the record factory once per process.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_dualalign_redacts", False):
        return

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        return record

    make._dualalign_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)


def _redact_record(record: logging.LogRecord) -> None:
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)


__all__ = ["MIN_SECRET_LEN", "install_log_redaction", "redact", "redact_data", "redact_optional", "register"]

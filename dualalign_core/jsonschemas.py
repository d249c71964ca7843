"""Find the JSON Schemas in ``schemas/`` and validate documents, naming the file and the bad field."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from dualalign_core.errors import BadInput

SCHEMA_VERSION = "1"


def schema_dir() -> Path:
    """``schemas/`` of the source tree (editable installs) or the copy inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "schemas", here / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("dualalign schemas directory not found")


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Schema by file stem, e.g. ``run-config`` or ``records/note``."""
    path = schema_dir() / f"{name}.schema.json"
    return json.loads(path.read_text())


def field_path(path: Any) -> str:
    """``['generator', 'options', 0]`` -> ``generator.options[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def non_finite(document: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], float] | None:
    """The path and value of the first NaN or infinity in a document (JSON Schema bounds let them pass)."""
    if isinstance(document, float) and not math.isfinite(document):
        return path, document
    items = (
        document.items()
        if isinstance(document, dict)
        else (enumerate(document) if isinstance(document, (list, tuple)) else ())
    )
    for key, value in items:
        found = non_finite(value, (*path, key))
        if found is not None:
            return found
    return None


def _where(path: list[Any], prefix: str) -> str:
    where = field_path(path)
    if prefix:
        where = f"{prefix}.{where}" if path else prefix
    return where


def validate(document: Any, schema: str | dict[str, Any], *, file: str | None = None, prefix: str = "") -> None:
    """Raise :class:`BadInput` for the most relevant schema violation, or for a NaN or infinite number."""
    bad_number = non_finite(document)
    if bad_number is not None:
        raise BadInput(f"{bad_number[1]} is not a finite number", file=file, field=_where(list(bad_number[0]), prefix))
    schema_obj = load_schema(schema) if isinstance(schema, str) else schema
    validator = jsonschema.Draft202012Validator(schema_obj, format_checker=jsonschema.FormatChecker())
    error = best_match(validator.iter_errors(document))
    if error is None:
        return
    path = list(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties":
        # name the unexpected key itself, not its parent
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            path.append(extra[0])
            message = f"unknown field {extra[0]!r}"
    elif error.validator == "pattern" and isinstance(error.schema, dict) and error.schema.get("description"):
        # a pattern reads badly as a message: say what the field expects instead
        message = f"{error.instance!r} is not valid here: {error.schema['description']}"
    raise BadInput(message, file=file, field=_where(path, prefix))


def load_json(path: Path, schema: str | None = None) -> Any:
    """Read a JSON file (a clear error for bad JSON) and optionally validate it."""
    from dualalign_core.textio import read_json

    document = read_json(path, what="JSON file")
    if schema:
        validate(document, schema, file=str(path))
    return document

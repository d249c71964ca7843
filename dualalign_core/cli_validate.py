"""``dualalign validate``: run configs, prompt templates, ablation configs, disease-pack directories and
single tables. A run config gets every check ``run`` makes before its first unit, and nothing is written."""

from __future__ import annotations

import sys
from pathlib import Path

from dualalign_core.errors import BadInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TABLE_KINDS = {
    "demographics": "demographics",
    "risk_factors": "risk-factors",
    "lexicon": "lexicon",
    "schedule": "schedule",
}
RUN_SECTIONS = frozenset({"run", "disease", "personas", "trajectory", "generator", "annotator", "filters", "limits"})
PROMPT_KEYS = frozenset({"version", "system", "user"})


def toml_kind(doc: dict) -> str:
    """What a TOML document is: ``run config``, ``prompt template`` or ``ablation config``."""
    if "ablation" in doc:
        return "ablation config"
    if PROMPT_KEYS & set(doc) and not RUN_SECTIONS & set(doc):
        return "prompt template"
    return "run config"


def validate_toml(path: Path) -> str:
    """Validate a TOML file as what it is (see :func:`toml_kind`)."""
    from dualalign_core.config import parse_config
    from dualalign_core.disease import PromptTemplate
    from dualalign_core.run.build import check_config
    from dualalign_core.textio import read_text

    try:
        doc = tomllib.loads(read_text(path, what="TOML file"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"invalid TOML: {exc}", file=str(path)) from None
    kind = toml_kind(doc)
    if kind == "prompt template":
        PromptTemplate.load(path)
    elif kind == "ablation config":
        from dualalign_core.training.ablate import load_ablation

        load_ablation(path)
    else:
        if not RUN_SECTIONS & set(doc):
            raise BadInput(
                "not a run config (no [disease] section), a prompt template (version, system, user) "
                "or an ablation config ([ablation])",
                file=str(path),
            )
        check_config(parse_config(doc, str(path)))  # every check a run makes before its first unit
    return kind


def validate_table(path: Path, doc: dict, kind: str) -> None:
    """A lone table: its schema, then the semantic checks that need no other file of the pack."""
    from dualalign_core import pack_checks
    from dualalign_core.jsonschemas import validate

    validate(doc, TABLE_KINDS[kind], file=str(path))
    if kind == "demographics":
        pack_checks.check_demographics(doc, path)
    elif kind == "risk_factors":
        pack_checks.check_risk_factors(doc, path, None)
    elif kind == "lexicon":
        pack_checks.check_lexicon(doc, path, None, None)
    else:
        pack_checks.check_schedule(doc, path)


def validate_path(path: Path) -> str:
    """Validate one path and return what it was; raises :class:`BadInput`."""
    from dualalign_core.disease import DiseasePack
    from dualalign_core.jsonschemas import load_json

    path = Path(path)
    if path.is_dir():
        if not (path / "disease.json").exists():
            raise BadInput("directory without disease.json", file=str(path))
        DiseasePack.from_directory(path)
        return "disease pack"
    if not path.exists():
        raise BadInput("file not found", file=str(path))
    if path.suffix == ".toml":
        return validate_toml(path)
    if path.name == "disease.json":
        DiseasePack.from_directory(path.parent)
        return "disease pack"
    if path.suffix == ".json":
        doc = load_json(path)
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if not isinstance(kind, str) or kind not in TABLE_KINDS:  # a hostile kind may be any JSON value
            raise BadInput(
                f"unknown table kind {kind!r} (expected one of {sorted(TABLE_KINDS)})", file=str(path), field="kind"
            )
        validate_table(path, doc, kind)
        return f"{kind} table"
    raise BadInput(
        "unrecognised file type (expected a .toml run config, prompt template or ablation config, "
        "a .json table or a pack directory)",
        file=str(path),
    )

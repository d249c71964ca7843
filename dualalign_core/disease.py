"""Disease packs: the data a disease brings (tables, lexicon, schedule, prompt, protocol, labels).

A pack is a directory with ``disease.json`` naming its files; every file is validated by ``schemas/``.
A new disease needs data, not code: the core's generic samplers read these files.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from dualalign_core.errors import BadInput
from dualalign_core.jsonschemas import load_json, validate
from dualalign_core.plan_fields import NUMBER_FIELDS, PLAN_FIELDS
from dualalign_core.seeds import short_hash
from dualalign_core.textio import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@frozen
class PromptTemplate:
    """A versioned system + user prompt pair; ``str.format`` fields named by :meth:`DiseasePack.prompt_fields`."""

    version: str
    system: str
    user: str
    source: str = field(default="prompt", eq=False, repr=False)

    @property
    def hash(self) -> str:
        return short_hash(f"{self.version}\x00{self.system}\x00{self.user}")

    def fields(self) -> set[str]:
        """Every field name the two templates use."""
        return {
            name
            for text in (self.system, self.user)
            for _, name, _, _ in string.Formatter().parse(text)
            if name is not None
        }

    def render(self, fields: Mapping[str, Any]) -> tuple[str, str]:
        """Both templates filled in; a field without a value raises :class:`BadInput` naming it."""
        missing = sorted(self.fields() - set(fields))
        if missing:
            raise BadInput(
                f"no value for prompt field {{{missing[0]}}}: the persona does not carry it (a persona "
                "source must supply every persona field the prompt uses)",
                file=self.source,
                field=missing[0],
            )
        return self.system.format(**fields), self.user.format(**fields)

    @classmethod
    def load(cls, path: Path, allowed: Collection[str] | None = None) -> PromptTemplate:
        """Read and check a prompt file; ``allowed`` names the fields it may use (``None``: any plain name,
        for a prompt validated without its pack)."""
        try:
            doc = tomllib.loads(read_text(path, what="prompt file"))
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"invalid TOML: {exc}", file=str(path)) from None
        for key in ("version", "system", "user"):
            if not isinstance(doc.get(key), str):
                raise BadInput("missing or not a string", file=str(path), field=key)
        for key in ("system", "user"):
            check_template(doc[key], str(path), key, allowed)
        return cls(version=doc["version"], system=doc["system"], user=doc["user"], source=str(path))


def check_template(text: str, file: str, key: str, allowed: Collection[str] | None = None) -> None:
    """A template renders with every allowed field: braces balance (``{{``/``}}`` for literal ones), each
    ``{field}`` is a plain name among ``allowed`` (any when ``None``), and its format spec or conversion suits
    the value (``age`` and ``n_mentions`` are numbers, every other field text)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise BadInput(f"{exc} (write {{{{ and }}}} for literal braces)", file=file, field=key) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise BadInput(f"template field {{{name}}} is not a plain name", file=file, field=key)
        if allowed is not None and name not in allowed:
            raise BadInput(f"unknown template field {{{name}}}; allowed: {sorted(allowed)}", file=file, field=key)
        sample = {name: 70 if name in NUMBER_FIELDS else "text"}
        try:
            text_of = f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
            text_of.format(**sample)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            raise BadInput(f"template field {text_of} cannot be rendered: {exc}", file=file, field=key) from None


@frozen
class DiseasePack:
    """A disease's data, loaded and validated."""

    name: str
    title: str
    version: str
    labels: tuple[str, ...] = field(converter=tuple)
    negative_label: str
    label_precedence: tuple[str, ...] = field(converter=tuple)
    stages: tuple[str, ...] = field(converter=tuple)
    directory: Path
    manifest: dict[str, Any] = field(hash=False, eq=False, repr=False)
    demographics: dict[str, Any] = field(hash=False, eq=False, repr=False)
    risk_factors: dict[str, Any] = field(hash=False, eq=False, repr=False)
    lexicon: dict[str, Any] = field(hash=False, eq=False, repr=False)
    schedule: dict[str, Any] = field(hash=False, eq=False, repr=False)
    prompt: PromptTemplate = field(repr=False)
    protocol: str = field(repr=False)
    plugin: str = "unknown"
    plugin_version: str = "unknown"
    grammar: dict[str, Any] | None = field(default=None, hash=False, eq=False, repr=False)
    history: dict[str, Any] | None = field(default=None, hash=False, eq=False, repr=False)

    @property
    def third_party_label(self) -> str | None:
        """The label of a third party's report of a change (``third_party_label`` in disease.json), if any."""
        return self.manifest.get("third_party_label")

    @property
    def all_labels(self) -> tuple[str, ...]:
        return (*self.labels, self.negative_label)

    def prompt_fields(self) -> frozenset[str]:
        """The fields this pack's prompt may use: the plan's, every demographic variable, the persona fields."""
        return prompt_fields_of(self.manifest, self.demographics)

    def stage_title(self, stage: str) -> str:
        return self.manifest.get("stage_titles", {}).get(stage, stage.replace("_", " "))

    def note_type_title(self, note_type: str) -> str:
        return self.manifest.get("note_type_titles", {}).get(note_type, note_type.replace("_", " "))

    def with_plugin(self, plugin: str, version: str) -> DiseasePack:
        return attrs.evolve(self, plugin=plugin, plugin_version=version)

    def file(self, key: str) -> Path:
        return self.directory / self.manifest["files"][key]

    @classmethod
    def from_directory(cls, directory: str | Path) -> DiseasePack:
        """Load ``disease.json`` and the files it names; validate each against its schema and semantics."""
        from dualalign_core import pack_checks  # local import: pack_checks imports nothing from here

        directory = Path(directory)
        manifest_path = directory / "disease.json"
        manifest = load_json(manifest_path, "disease-pack")
        files = manifest["files"]
        loaded: dict[str, Any] = {}
        for key, schema in (
            ("demographics", "demographics"),
            ("risk_factors", "risk-factors"),
            ("lexicon", "lexicon"),
            ("schedule", "schedule"),
        ):
            path = directory / files[key]
            loaded[key] = load_json(path, schema)
        pack_checks.check_manifest(manifest, manifest_path)
        pack_checks.check_pack(manifest, loaded, directory)
        grammar = _load_grammar(manifest, loaded["lexicon"], directory)
        history = _load_history(manifest, loaded, directory)
        allowed = prompt_fields_of(manifest, loaded["demographics"])
        protocol_path = directory / files["protocol"]
        protocol = read_text(protocol_path, what="protocol file")
        pack = cls(
            name=manifest["name"],
            title=manifest["title"],
            version=manifest["version"],
            labels=manifest["labels"],
            negative_label=manifest["negative_label"],
            label_precedence=manifest.get("label_precedence", manifest["labels"]),
            stages=manifest["stages"],
            directory=directory,
            manifest=manifest,
            prompt=PromptTemplate.load(directory / files["prompt"], allowed),
            protocol=protocol,
            grammar=grammar,
            history=history,
            **loaded,
        )
        return pack


def _load_grammar(manifest: Mapping[str, Any], lexicon: Mapping[str, Any], directory: Path) -> dict[str, Any] | None:
    """The pack's optional phrase banks (``files.grammar``), schema- and semantics-checked."""
    from dualalign_core.grammar.bank import check_grammar

    name = manifest["files"].get("grammar")
    if not name:
        return None
    path = directory / name
    doc = load_json(path, "grammar")
    check_grammar(doc, path, lexicon)
    return doc


def _load_history(manifest: Mapping[str, Any], loaded: Mapping[str, Any], directory: Path) -> dict[str, Any] | None:
    """The pack's optional timeline table (``files.history``), schema- and semantics-checked."""
    from dualalign_core.history.checks import check_history

    name = manifest["files"].get("history")
    if not name:
        return None
    path = directory / name
    doc = load_json(path, "history")
    check_history(doc, path, manifest, loaded)
    return doc


def prompt_fields_of(manifest: Mapping[str, Any], demographics: Mapping[str, Any]) -> frozenset[str]:
    """:data:`PLAN_FIELDS`, the demographic variables and the manifest's ``persona_fields``."""
    return PLAN_FIELDS | set(demographics.get("variables", {})) | set(manifest.get("persona_fields", ()))


def installed_pack_name(name: str | None, installed: Collection[str], *, option: str = "--disease") -> str:
    """``name``, or the one installed disease pack when ``name`` is not given; two or more installed packs
    (or none) without a name is bad input naming them."""
    if name is not None:
        return name
    if len(installed) == 1:
        return next(iter(installed))
    if not installed:
        raise BadInput("no disease pack is installed (install one, e.g. a dualalign-<disease> plugin)", field=option)
    raise BadInput(
        f"{len(installed)} disease packs are installed ({', '.join(sorted(installed))}): choose one with {option}",
        field=option,
    )


def validate_pack_dir(directory: str | Path) -> None:
    """Validate a pack directory (raises :class:`BadInput`)."""
    DiseasePack.from_directory(directory)


__all__ = ["PLAN_FIELDS", "DiseasePack", "PromptTemplate", "installed_pack_name", "prompt_fields_of", "validate"]

"""Run contexts, records and whole runs for component tests: no hand-built stand-ins for the core's objects."""

from __future__ import annotations

import functools
import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.components import NoteBundle
from dualalign_core.context import RunContext
from dualalign_core.disease import DiseasePack
from dualalign_core.records import Label, Note, NotePlan, Persona, Provenance, RequiredTerm, Sentence, Usage

TEST_PROVENANCE = Provenance(run_id="test-run", seed=0, component="test", plugin="test", plugin_version="0")


@functools.lru_cache(maxsize=1)
def example_pack() -> DiseasePack:
    """A small, valid, data-only disease pack (the ``dualalign new disease`` template, placeholder numbers):
    labels ``early_signs``/``late_signs``, negative label ``no_symptom``, stages ``prodromal``/``early``."""
    from dualalign_core.scaffold import render

    out = Path(tempfile.mkdtemp(prefix="dualalign-example-pack-")) / "pack"
    render("disease", "example", out)
    return DiseasePack.from_directory(out / "dualalign_example" / "data")


def resolve_pack(disease: DiseasePack | str | Path | None) -> DiseasePack:
    """A pack object as it is, a directory holding ``disease.json``, a registered pack's name, or ``None`` for
    :func:`example_pack`."""
    if disease is None:
        return example_pack()
    if isinstance(disease, DiseasePack):
        return disease
    if isinstance(disease, Path) or Path(disease).joinpath("disease.json").exists():
        return DiseasePack.from_directory(disease)
    from dualalign_core.plugins import get_registry

    return get_registry().get("disease", str(disease))


def run_context(
    disease: DiseasePack | str | Path | None = None,
    *,
    run_dir: str | Path | None = None,
    seed: int = 0,
    run_id: str = "test-run",
) -> RunContext:
    """The context a component sees in a run. ``run_dir``: back the LLM cache with a real run store there
    (default: an in-memory cache); ``disease``: see :func:`resolve_pack`."""
    store = None
    if run_dir is not None:
        from dualalign_core.run.store import RunStore

        store = RunStore(Path(run_dir))
    return RunContext(run_id=run_id, seed=seed, disease=resolve_pack(disease), store=store)


def sample_personas(
    ctx: RunContext,
    n: int = 3,
    *,
    source: str = "prevalence",
    seed: int = 1,
    options: dict[str, Any] | None = None,
) -> list[Persona]:
    """``n`` personas of the context's disease from a registered persona source (default: the core's), built
    with ``options`` (checked against its options schema, as a run would)."""
    from dualalign_core.plugins import get_registry

    component = get_registry().create("persona_source", source, dict(options or {}))
    return component.sample(ctx.disease, n, seed, ctx)


def registered(kind: str, name: str) -> Any:
    """The class (a disease pack for ``kind="disease"``) the installed plugins register under ``name``: what a
    plugin's own test asks to see that its entry point works. Kinds: ``disease``, ``persona_source``,
    ``trajectory_sampler``, ``generator``, ``llm_backend``, ``annotator``, ``filter``, ``trainer``. Unknown:
    :class:`~dualalign_core.errors.BadInput` listing what is registered (and any broken plugin, with why)."""
    from dualalign_core.plugins import get_registry

    return get_registry().get(kind, name)


def note_bundle(
    text: str,
    *,
    stage: str = "early",
    note_type: str = "primary_care",
    required: Sequence[tuple[str, str]] = (),
    sentences: Sequence[str] = (),
    labels: Sequence[str] = (),
) -> NoteBundle:
    """A filter's input for one note: ``required`` as ``(label, term)`` pairs of its plan; ``sentences`` and
    their ``labels`` (same length) for ``annotated``-stage filters."""
    if labels and len(labels) != len(sentences):
        raise ValueError(f"{len(labels)} labels for {len(sentences)} sentences")
    prov = TEST_PROVENANCE
    persona = Persona(
        id="p0", age=70, demographics={"sex": "female", "age_band": "65-79"}, risk_factors=(), provenance=prov
    )
    terms = tuple(RequiredTerm(label=lb, term_id=f"t{i}", term=term) for i, (lb, term) in enumerate(required))
    plan = NotePlan(
        id="p0-n000",
        persona_id="p0",
        index=0,
        years_before_diagnosis=1.0,
        note_type=note_type,
        stage=stage,
        n_mentions=len(terms),
        required_terms=terms,
        provenance=prov,
    )
    note = Note(id="p0-n000", plan_id=plan.id, persona_id="p0", text=text, usage=Usage(), provenance=prov)
    sents, pos = [], 0
    for i, s in enumerate(sentences):
        start = text.find(s, pos)
        start = pos if start < 0 else start
        sents.append(Sentence(id=f"{note.id}:{i}", note_id=note.id, index=i, start=start, end=start + len(s), text=s))
        pos = start + len(s)
    labs = tuple(
        Label(sentence_id=s.id, note_id=note.id, label=lb, binary=lb != "none", annotator="test")
        for s, lb in zip(sents, labels, strict=True)
    )
    return NoteBundle(persona=persona, plan=plan, note=note, sentences=tuple(sents), labels=labs)


@frozen
class PipelineResult:
    """What :func:`run_pipeline` saw: the exit code, the CLI's output, the run directory and its manifest."""

    exit_code: int
    output: str
    run_dir: Path
    manifest: dict[str, Any] | None


def run_pipeline(
    config: str | Path | Mapping[str, Any], out: str | Path, *args: str, expect_exit: int | None = 0
) -> PipelineResult:
    """Run ``dualalign run CONFIG --out OUT [ARGS...]`` in this process, through the CLI itself.

    ``config``: a TOML file, or a config as a dict (written to a temporary TOML file; a relative
    ``disease.path`` is taken relative to the current directory). ``expect_exit``: raise ``AssertionError``
    with the CLI's output when the exit code differs (``None``: never).
    """
    from typer.testing import CliRunner

    from dualalign_core.cli import app

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="dualalign-config-") as tmp:
        if isinstance(config, Mapping):
            path = Path(tmp) / "config.toml"
            path.write_text(to_toml(_absolute_disease_path(config)), encoding="utf-8")
        else:
            path = Path(config)
        result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--quiet", *args])
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if expect_exit is not None and result.exit_code != expect_exit:
        raise AssertionError(f"dualalign run exited {result.exit_code}, expected {expect_exit}:\n{output}")
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else None
    return PipelineResult(exit_code=result.exit_code, output=output, run_dir=out, manifest=manifest)


def _absolute_disease_path(config: Mapping[str, Any]) -> dict[str, Any]:
    doc = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
    disease = doc.get("disease")
    if isinstance(disease, dict) and "path" in disease:
        disease["path"] = str(Path(disease["path"]).resolve())
    return doc


def to_toml(doc: Mapping[str, Any]) -> str:
    """A run config as TOML: top-level tables of scalars, lists and inline tables."""
    lines: list[str] = []
    for section, body in doc.items():
        if not isinstance(body, Mapping):
            raise ValueError(f"config section {section!r} must be a table")
        lines.append(f"[{section}]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in body.items()]
        lines.append("")
    return "\n".join(lines)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, float):
        return (
            ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
            if not math.isfinite(value)
            else repr(value)
        )
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} as TOML: {value!r}")

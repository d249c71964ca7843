"""Run configuration: one TOML file, validated against ``schemas/run-config.schema.json``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from dualalign_core.errors import BadInput
from dualalign_core.jsonschemas import validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# CLI override keyword -> (TOML section, key, CLI option). Overrides are validated like the file.
OVERRIDES: dict[str, tuple[str, str, str]] = {
    "patients": ("run", "patients", "--patients"),
    "seed": ("run", "seed", "--seed"),
    "multiplier": ("trajectory", "multiplier", "--multiplier"),
    "generator": ("generator", "name", "--generator"),
    "memory": ("generator", "memory", "--memory"),
    "annotator": ("annotator", "name", "--annotator"),
    "max_cost_usd": ("limits", "max_cost_usd", "--max-cost"),
    "executor": ("run", "executor", "--executor"),
    "ray_address": ("ray", "address", "--ray-address"),
}
# sections that limit how a run proceeds but are not part of what it makes (its identity, its run id)
NOT_IDENTITY = ("limits", "ray")

DEFAULTS = {
    "persona_source": "prevalence",
    "sampler": "stage-schedule",
    "generator": "template",
    "annotator": "lexicon",
}
MEMORY_WORDS = 250  # [generator] memory_words: the default bound on the earlier notes' summary


@frozen
class ComponentSpec:
    """Which component to use and how to build it.

    ``concurrency`` (the section's ``concurrency = N``) is set on the built component; an LLM component passes
    it to its runtime's limiter and its client pool (``options.concurrency`` is the same knob).
    """

    name: str
    options: dict[str, Any] = field(factory=dict, hash=False)
    model: str | None = None
    concurrency: int | None = None

    def constructor_options(self) -> dict[str, Any]:
        opts = dict(self.options)
        if self.model is not None:
            opts.setdefault("model", self.model)
        return opts


@frozen
class ExecutorSpec:
    """Where notes are made (``run.executor``) and, for Ray, the ``[ray]`` section. Not part of the run's
    identity: every executor makes the same records."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float | None = None
    forward_env: tuple[str, ...] = ()

    def ray_dict(self) -> dict[str, Any]:
        """The ``[ray]`` section as given (unset settings left out)."""
        doc: dict[str, Any] = {"address": self.address, "workers": self.workers, "num_gpus": self.num_gpus}
        doc = {k: v for k, v in doc.items() if v is not None}
        if self.num_cpus != 1.0:
            doc["num_cpus"] = self.num_cpus
        if self.forward_env:
            doc["forward_env"] = list(self.forward_env)
        return doc


@frozen
class RunConfig:
    """A validated run configuration."""

    raw: dict[str, Any] = field(hash=False, repr=False)
    path: str | None
    seed: int = 0
    patients: int = 10
    max_notes_per_patient: int | None = None
    max_attempts: int = 3
    name: str | None = None
    out: str | None = None
    disease_name: str | None = None
    disease_path: str | None = None
    personas: ComponentSpec = ComponentSpec(DEFAULTS["persona_source"])
    trajectory: ComponentSpec = ComponentSpec(DEFAULTS["sampler"])
    multiplier: float = 5.0
    generator: ComponentSpec = ComponentSpec(DEFAULTS["generator"])
    annotator: ComponentSpec = ComponentSpec(DEFAULTS["annotator"])
    filters: tuple[str, ...] | None = None
    warn_filters: tuple[str, ...] = ()
    filter_options: dict[str, dict[str, Any]] = field(factory=dict, hash=False)
    max_cost_usd: float | None = None
    executor: ExecutorSpec = ExecutorSpec()
    memory: str = "timeline"  # [generator] memory: "timeline" | "notes" (earlier generated notes too)
    memory_words: int = MEMORY_WORDS

    @property
    def remembers_notes(self) -> bool:
        """Whether notes are conditioned on the patient's earlier generated notes (a patient's notes chain)."""
        return self.memory == "notes"

    def to_dict(self) -> dict[str, Any]:
        """The effective config (overrides applied) as TOML-shaped data, for the manifest."""
        doc: dict[str, Any] = {
            "run": {"seed": self.seed, "patients": self.patients, "max_attempts": self.max_attempts},
            "disease": {"name": self.disease_name} if self.disease_name else {"path": self.disease_path},
            "personas": {"source": self.personas.name, "options": self.personas.options},
            "trajectory": {
                "sampler": self.trajectory.name,
                "multiplier": self.multiplier,
                "options": self.trajectory.options,
            },
            "generator": _spec_dict(self.generator) | self._memory_dict(),
            "annotator": _spec_dict(self.annotator),
            "filters": {"options": self.filter_options},
        }
        if self.max_notes_per_patient:
            doc["run"]["max_notes_per_patient"] = self.max_notes_per_patient
        if self.name:
            doc["run"]["name"] = self.name
        if self.filters is not None:
            doc["filters"]["use"] = list(self.filters)
        if self.warn_filters:
            doc["filters"]["warn"] = list(self.warn_filters)
        if self.max_cost_usd is not None:
            doc["limits"] = {"max_cost_usd": self.max_cost_usd}
        if self.executor.name != "local":
            doc["run"]["executor"] = self.executor.name
        if self.executor.ray_dict():
            doc["ray"] = self.executor.ray_dict()
        return doc

    def _memory_dict(self) -> dict[str, Any]:
        """``memory``/``memory_words`` where not the defaults (so runs that leave them out keep their id)."""
        doc: dict[str, Any] = {"memory": self.memory} if self.memory != "timeline" else {}
        return doc | ({"memory_words": self.memory_words} if self.memory_words != MEMORY_WORDS else {})

    def identity(self) -> dict[str, Any]:
        """What the run makes: the effective config without its limits and executor (the run id hashes
        this)."""
        doc = {k: v for k, v in self.to_dict().items() if k not in NOT_IDENTITY}
        doc["run"] = {k: v for k, v in doc["run"].items() if k != "executor"}
        return doc

    def override(self, **changes: Any) -> RunConfig:
        """Apply CLI overrides (``None`` values are ignored), validated by the config schema like the file."""
        real = {k: v for k, v in changes.items() if v is not None}
        for key, value in real.items():
            section, name, option = OVERRIDES[key]
            validate({"disease": {"name": "x"}, section: {name: value}}, "run-config", file=f"{option} {value}")
        if "executor" in real or "ray_address" in real:
            given = {"name": real.pop("executor", self.executor.name), "address": real.pop("ray_address", None)}
            real["executor"] = attrs.evolve(self.executor, **{k: v for k, v in given.items() if v is not None})
        for key in ("generator", "annotator"):
            if isinstance(real.get(key), str):
                spec: ComponentSpec = getattr(self, key)
                keep = spec.name == real[key]
                real[key] = ComponentSpec(
                    real[key], spec.options if keep else {}, spec.model if keep else None, spec.concurrency
                )
        return attrs.evolve(self, **real)

    def resume_with(self, run_dir: str, **changes: Any) -> RunConfig:
        """Overrides given when resuming a stored run without CONFIG: limits apply; an override that would
        change the run's identity is refused (it would be another run), one equal to the stored value is fine."""
        new = self.override(**changes)
        for key, value in changes.items():
            section, name, option = OVERRIDES[key]
            if value is None or section in NOT_IDENTITY:
                continue
            if self.override(**{key: value}).identity() != self.identity():
                stored = self.to_dict().get(section, {}).get(name)
                raise BadInput(
                    f"{option} {value} would change the run being resumed (it has {section}.{name} = "
                    f"{stored!r}); resume without {option}, or start a new run in another --out",
                    file=run_dir,
                    field=f"{section}.{name}",
                )
        return new


def _spec_dict(spec: ComponentSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "options": spec.options}
    if spec.model is not None:
        out["model"] = spec.model
    if spec.concurrency is not None:
        out["concurrency"] = spec.concurrency
    return out


def _spec(section: dict[str, Any], key: str, default: str, path: str | None = None, where: str = "") -> ComponentSpec:
    given, option = section.get("concurrency"), section.get("options", {}).get("concurrency")
    if given is not None and option is not None and given != option:
        raise BadInput(
            f"concurrency given twice ({given} and options.concurrency = {option}); keep one",
            file=path or "<config>",
            field=f"{where}.options.concurrency",
        )
    return ComponentSpec(
        name=section.get(key, default),
        options=dict(section.get("options", {})),
        model=section.get("model"),
        concurrency=section.get("concurrency"),
    )


def parse_config(doc: dict[str, Any], path: str | None = None) -> RunConfig:
    """Validate a config document and build a :class:`RunConfig`."""
    given = doc.get("disease") if isinstance(doc, dict) else None
    if isinstance(given, dict) and "name" in given and "path" in given:  # the schema's oneOf names neither key
        raise BadInput(
            "disease.path is given too: name the pack by disease.name or by disease.path, not both",
            file=path or "<config>",
            field="disease.name",
        )
    validate(doc, "run-config", file=path or "<config>")
    run = doc.get("run", {})
    disease = doc["disease"]
    disease_path = disease.get("path")
    if disease_path and path and not Path(disease_path).is_absolute():
        disease_path = str((Path(path).parent / disease_path).resolve())
    traj = doc.get("trajectory", {})
    filters = doc.get("filters", {})
    return RunConfig(
        raw=doc,
        path=path,
        seed=run.get("seed", 0),
        patients=run.get("patients", 10),
        max_notes_per_patient=run.get("max_notes_per_patient"),
        max_attempts=run.get("max_attempts", 3),
        name=run.get("name"),
        out=str(Path(path).parent / run["out"]) if path and "out" in run else run.get("out"),
        disease_name=disease.get("name"),
        disease_path=disease_path,
        personas=_spec(doc.get("personas", {}), "source", DEFAULTS["persona_source"]),
        trajectory=_spec(traj, "sampler", DEFAULTS["sampler"]),
        multiplier=float(traj.get("multiplier", 5.0)),
        generator=_spec(doc.get("generator", {}), "name", DEFAULTS["generator"], path, "generator"),
        annotator=_spec(doc.get("annotator", {}), "name", DEFAULTS["annotator"], path, "annotator"),
        filters=tuple(filters["use"]) if "use" in filters else None,
        warn_filters=tuple(filters.get("warn", ())),
        filter_options={k: dict(v) for k, v in filters.get("options", {}).items()},
        max_cost_usd=doc.get("limits", {}).get("max_cost_usd"),
        executor=_executor(run, doc.get("ray", {})),
        memory=doc.get("generator", {}).get("memory", "timeline"),
        memory_words=doc.get("generator", {}).get("memory_words", MEMORY_WORDS),
    )


def _executor(run: dict[str, Any], ray: dict[str, Any]) -> ExecutorSpec:
    return ExecutorSpec(
        name=run.get("executor", "local"),
        address=ray.get("address"),
        workers=ray.get("workers"),
        num_cpus=float(ray.get("num_cpus", 1.0)),
        num_gpus=ray.get("num_gpus"),
        forward_env=tuple(ray.get("forward_env", ())),
    )


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML config; errors name the file and the field."""
    from dualalign_core.textio import read_text

    path = Path(path)
    text = read_text(path, what="config file")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"invalid TOML: {exc}", file=str(path)) from None
    return parse_config(doc, str(path))

"""A run's components: the disease pack and every registered component its config names, built and checked."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from attrs import define

from dualalign_core.components import Annotator, Filter, Generator, PersonaSource, TrajectorySampler
from dualalign_core.config import ComponentSpec, RunConfig
from dualalign_core.disease import DiseasePack
from dualalign_core.errors import BadInput
from dualalign_core.plugins import Registry, get_registry
from dualalign_core.redact import register as register_secret

_log = logging.getLogger("dualalign.run")


@define
class Components:
    """The instantiated components of a run."""

    disease: DiseasePack
    personas: PersonaSource
    sampler: TrajectorySampler
    generator: Generator
    annotator: Annotator
    filters: list[Filter]
    warn: frozenset[str] = frozenset()  # names of the built filters the config lists as warn-only

    def all(self) -> list[Any]:
        """Every component, in pipeline order (what the lifecycle opens and closes)."""
        return [self.personas, self.sampler, self.generator, self.annotator, *self.filters]


def _ref(component: Any) -> dict[str, Any]:
    return {
        "name": component.name,
        "plugin": component.plugin,
        "version": component.plugin_version,
        "options": dict(getattr(component, "options", {}) or {}),
    }


def resolved_pipeline(components: Components) -> dict[str, Any]:
    """What actually runs: every component with its plugin, the plugin's version and its options, and the
    disease pack with its version and prompt hash. Part of the run id, so installing, upgrading or removing
    a plugin that changes the pipeline makes another run (and a ``--resume`` across it is refused)."""
    c, d = components, components.disease
    return {
        "disease": {
            "name": d.name,
            "plugin": d.plugin,
            "version": d.plugin_version,
            "pack_version": d.version,
            "prompt_hash": d.prompt.hash,
        },
        "personas": _ref(c.personas),
        "trajectory": _ref(c.sampler),
        "generator": _ref(c.generator),
        "annotator": _ref(c.annotator),
        "filters": {f.name: _ref(f) | {"position": i} for i, f in enumerate(c.filters)},
    }


def resolve_disease(config: RunConfig, registry: Registry) -> DiseasePack:
    """The pack the config names: a directory (``disease.path``) or a registered pack (``disease.name``)."""
    if config.disease_path:
        path = Path(config.disease_path)
        try:
            found = (path / "disease.json").is_file()
        except OSError as exc:  # a name too long for the filesystem, a path through a file...
            raise BadInput(f"cannot use {path}: {exc.strerror}", file=config.path, field="disease.path") from None
        if not found:
            raise BadInput(f"no disease.json in {path}", file=config.path, field="disease.path")
        return DiseasePack.from_directory(path).with_plugin("path", "local")
    return registry.get("disease", config.disease_name or "", file=config.path, field_path="disease.name")


def build(
    registry: Registry,
    kind: str,
    spec: ComponentSpec,
    config: RunConfig,
    field_path: str,
    *,
    name_field: str = "name",
    options_field: str | None = None,
) -> Any:
    """Instantiate a registered component, validating its options against its ``options_schema``.

    Errors name the key as written in the TOML: ``name_field`` is the key holding the component's name
    (``personas.source``, ``trajectory.sampler``), ``options_field`` where its options are.
    """
    options_field = options_field or f"{field_path}.options"
    try:
        component = registry.create(
            kind,
            spec.name,
            spec.constructor_options(),
            file=config.path,
            field_path=field_path,
            name_field=f"{field_path}.{name_field}" if name_field else field_path,
            options_field=options_field,
        )
    except BadInput as exc:
        if spec.model is not None and exc.field == f"{options_field}.model" and "model" not in spec.options:
            raise BadInput(
                str(exc).rsplit(f"{exc.field}: ", 1)[-1], file=exc.file, field=f"{field_path}.model"
            ) from None
        raise
    if spec.concurrency is not None:
        component.concurrency = spec.concurrency
    return component


def build_components(config: RunConfig, registry: Registry) -> Components:
    """Build every component the config names (the default filters when it lists none)."""
    register_secret(*config.executor.forward_env)  # forwarded values are redacted from messages and files
    disease = resolve_disease(config, registry)
    filters_names = config.filters if config.filters is not None else registry.default_filters()
    filters = []
    for i, name in enumerate(filters_names):
        spec = ComponentSpec(name, config.filter_options.get(name, {}))
        where = f"filters.use[{i}]" if config.filters is not None else "filters"
        filters.append(
            build(registry, "filter", spec, config, where, name_field="", options_field=f"filters.options.{name}")
        )
    for i, name in enumerate(config.warn_filters):
        if name not in filters_names:
            raise BadInput(
                f"warn-only filter {name!r} is not among the filters used", file=config.path, field=f"filters.warn[{i}]"
            )
    unknown_opts = set(config.filter_options) - set(filters_names)
    if unknown_opts:
        raise BadInput(
            f"options for a filter that is not used: {sorted(unknown_opts)[0]!r}",
            file=config.path,
            field="filters.options",
        )
    personas = build(registry, "persona_source", config.personas, config, "personas", name_field="source")
    sampler = build(registry, "trajectory_sampler", config.trajectory, config, "trajectory", name_field="sampler")
    sampler.multiplier = config.multiplier  # the density multiplier is the sampler's setting, typed
    return Components(
        disease=disease,
        personas=personas,
        sampler=sampler,
        generator=build(registry, "generator", config.generator, config, "generator"),
        annotator=build(registry, "annotator", config.annotator, config, "annotator"),
        filters=filters,
        # as the config spells them (bare or plugin:name), resolved to the filters built from them, and those
        # whose options leave them warn-only (e.g. consistency and copy_forward unless ``enforce = true``)
        warn=frozenset(
            f.name for name, f in zip(filters_names, filters, strict=True) if name in config.warn_filters or f.warn_only
        ),
    )


def preflight(components: Components, config: RunConfig) -> None:
    """Before any work: each component checks what it needs (a vendor backend its API key) and raises
    :class:`BadInput`; reported against the config key that chose the component."""
    c = components
    named = [
        ("personas.source", c.personas),
        ("trajectory.sampler", c.sampler),
        ("generator.name", c.generator),
        ("annotator.name", c.annotator),
        *((f"filters.options.{f.name}", f) for f in c.filters),
    ]
    for where, component in named:
        check = getattr(component, "preflight", None)
        if callable(check):
            try:
                check()
            except BadInput as exc:
                raise BadInput(str(exc), file=config.path, field=where) from None
    check_prices(components, config)
    check_ray_address(config)


RAY_CONNECT_TIMEOUT_S = 5.0


def check_ray_address(config: RunConfig) -> None:
    """Before any work, a Ray cluster the config names must be listening: ``HOST:PORT`` (or ``ray://HOST:PORT``)
    gets one TCP connection, so a wrong or dead address is exit 2 at once, not minutes of Ray's retries after
    the run was planned. ``ray://`` needs the ``ray[client]`` extra."""
    address = config.executor.address if config.executor.name == "ray" else None
    if not address or address == "auto":
        return
    import importlib.util
    import socket

    if address.startswith("ray://") and importlib.util.find_spec("grpc") is None:
        raise BadInput(
            f"{address}: a ray:// address needs the Ray client: pip install 'ray[client]'",
            file=config.path,
            field="ray.address",
        )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise BadInput(
            f"nothing answers at {address} ({getattr(exc, 'strerror', None) or exc}): is the Ray head running there?",
            file=config.path,
            field="ray.address",
        ) from None


def check_prices(components: Components, config: RunConfig) -> None:
    """A cost budget needs priced models: an LLM component whose model no price table knows is
    :class:`BadInput` under ``limits.max_cost_usd`` (unless its ``allow_unpriced`` option says so), and a
    warning without a budget (its calls are counted as $0)."""
    for where, component in (("generator", components.generator), ("annotator", components.annotator)):
        runtime = getattr(component, "runtime", None)
        if runtime is None or runtime.priced:
            continue
        model = getattr(component, "model", None) or "?"
        if config.max_cost_usd is not None and not runtime.backend.options.get("allow_unpriced"):
            raise BadInput(
                f"model {model!r} has no price, so a cost budget cannot stop it: give the {where} a price "
                f"({where}.options.price = {{input = ..., output = ...}}, USD per 1M tokens), ship a price table "
                f"with its backend, or set {where}.options.allow_unpriced = true",
                file=config.path,
                field="limits.max_cost_usd",
            )
        if not runtime.backend.options.get("allow_unpriced"):
            _log.warning("%s model %r has no price: its calls are counted as $0 in costs and budgets", where, model)


def check_config(config: RunConfig, registry: Registry | None = None) -> Components:
    """Every check a run makes before its first unit, writing nothing: the disease pack, components and
    their options, and each component's preflight."""
    components = build_components(config, registry or get_registry())
    preflight(components, config)
    return components


__all__ = [
    "Components",
    "build",
    "build_components",
    "check_config",
    "check_prices",
    "preflight",
    "resolve_disease",
    "resolved_pipeline",
]

"""Commands for plugin authors: ``dualalign new``, ``dualalign plugins --options NAME`` and the resolved
components that ``dualalign validate CONFIG`` prints. ``cli.py`` registers and calls them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from dualalign_core.errors import BadInput

out = Console(soft_wrap=True)
ROLES = (
    ("personas.source", "persona_source", "personas"),
    ("trajectory.sampler", "trajectory_sampler", "trajectory"),
    ("generator.name", "generator", "generator"),
    ("annotator.name", "annotator", "annotator"),
)


def new(
    kind: str = typer.Argument(..., help="disease | backend | filter | sampler | persona"),
    name: str = typer.Argument(..., help="Plugin name: lowercase words joined by '-' or '_' (e.g. parkinsons)."),
    out_dir: Path | None = typer.Option(
        None, "--out", "-o", help="Directory to create (default: ./dualalign-NAME); must be absent or empty."
    ),
) -> None:
    """Write a plugin package: pyproject with the entry point, a stub that validates, a README and tests."""
    from dualalign_core.scaffold import names, render

    target = out_dir if out_dir is not None else Path(names(name)["dist"])
    written = render(kind, name, target)
    for path in written:
        out.print(f"  {path}", markup=False, highlight=False)
    out.print(
        f"wrote a {kind} plugin in {target}: cd {target} && pip install -e . && pytest", markup=False, highlight=False
    )


def register(app: typer.Typer, handled: Any) -> None:
    """Add ``new`` to the main app, wrapped in its error handling (exit codes)."""
    app.command()(handled(new))


# -- plugins --options NAME -------------------------------------------------------------------------------------
def component_matches(name: str) -> list[tuple[str, type]]:
    """Every (kind, class) registered under ``name`` (a component name may serve several kinds)."""
    from dualalign_core.plugins import get_registry

    registry = get_registry()
    found = []
    for kind in sorted(registry.components):
        try:
            found.append((kind, registry.get(kind, name)))
        except BadInput as exc:
            if "ambiguous" in str(exc):  # a bare name two plugins register: say which to pick
                raise BadInput(str(exc), field="--options") from None
    return found


def options_doc(name: str) -> list[dict[str, Any]]:
    """``plugins --options NAME``: each match's kind, plugin, version and options schema with its defaults."""
    matches = component_matches(name)
    if not matches:
        from dualalign_core.plugins import get_registry

        known = sorted({n for table in get_registry().components.values() for n in table})
        raise BadInput(f"no component named {name!r} (registered: {', '.join(known) or 'none'})", field="--options")
    from dualalign_core.plugins import get_registry

    refs = {kind: get_registry().ref(kind, name) for kind, _ in matches}
    return [
        {
            "name": name,
            "kind": kind,
            "plugin": refs[kind].distribution,
            "version": refs[kind].version,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            **({"default_on": bool(getattr(cls, "default_on", True))} if kind == "filter" else {}),
            "options_schema": schema_with_defaults(cls),
            "defaults": option_defaults(cls),
        }
        for kind, cls in matches
    ]


def print_options(name: str) -> None:
    out.print_json(json.dumps(options_doc(name), default=str))


def option_defaults(cls: type) -> dict[str, Any]:
    """Defaults of a component's options: its schema's ``default`` values (the one place they are declared)."""
    from dualalign_core.components import schema_defaults

    return schema_defaults(getattr(cls, "options_schema", {}) or {})


def schema_with_defaults(cls: type) -> dict[str, Any]:
    """The options schema as JSON (each property with a default carries it)."""
    return json.loads(json.dumps(getattr(cls, "options_schema", {}) or {}, default=str))


# -- validate CONFIG: the resolved pipeline ----------------------------------------------------------------------
def resolved_components(path: Path) -> list[dict[str, Any]]:
    """The components a run config resolves to: config key, kind, name, plugin, version, effective options."""
    from dualalign_core.config import load_config
    from dualalign_core.plugins import get_registry

    cfg = load_config(path)
    registry = get_registry()
    rows = []
    for where, kind, attr in ROLES:
        spec = getattr(cfg, attr)
        rows.append(_row(registry, where, kind, spec.name, spec.constructor_options()))
    if cfg.filters is not None:
        filters = list(cfg.filters)
    else:
        default_filters = getattr(registry, "default_filters", None)  # opt-in third-party filters (API 1.0)
        filters = (
            default_filters()
            if callable(default_filters)
            else [n for n in registry.names("filter") if getattr(registry.get("filter", n), "default_on", True)]
        )
    for i, name in enumerate(filters):
        where = f"filters.use[{i}]" if cfg.filters is not None else "filters (default)"
        row = _row(registry, where, "filter", name, cfg.filter_options.get(name, {}))
        row["warn_only"] = name in cfg.warn_filters
        rows.append(row)
    return rows


def _row(registry: Any, where: str, kind: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
    try:
        cls = registry.get(kind, name)
    except BadInput:
        kind, cls = "llm_backend", registry.get("llm_backend", name)  # a backend serving as generator/annotator
    ref = registry.ref(kind, name)  # who it is lives in the registry, not on the class
    return {
        "field": where,
        "kind": kind,
        "name": name,
        "plugin": ref.distribution,
        "version": ref.version,
        "options": {**option_defaults(cls), **options},
    }


def print_resolved(path: Path) -> None:
    """One line per resolved component, under ``dualalign validate``'s ``ok`` line."""
    for row in resolved_components(path):
        extra = " (warn only)" if row.get("warn_only") else ""
        options = json.dumps(row["options"], sort_keys=True, default=str)
        out.print(
            f"  {row['field']}: {row['name']} [{row['kind']}] from {row['plugin']} {row['version']}{extra} "
            f"options {options}",
            markup=False,
            highlight=False,
        )

"""The one plugin manager: discovers entry points in group ``dualalign`` and collects components.

Each plugin loads in its own try/except so one broken plugin cannot take the CLI down;
``DUALALIGN_STRICT_PLUGINS=1`` makes a broken plugin fatal, ``DUALALIGN_PLUGINS=a,b`` restricts loading.
The core's own components (entry point ``core``) register through the same mechanism.
"""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import logging
import os
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import pluggy
from attrs import define, field

from dualalign_core import hookspecs
from dualalign_core.components import COMPONENT_KINDS, Component
from dualalign_core.errors import BadInput, ComponentError, DualAlignError, PluginError

GROUP = "dualalign"
log = logging.getLogger("dualalign.plugins")
CORE = "core"

# hook name -> component kind
HOOKS: dict[str, str] = {
    "register_persona_sources": "persona_source",
    "register_trajectory_samplers": "trajectory_sampler",
    "register_generators": "generator",
    "register_llm_backends": "llm_backend",
    "register_annotators": "annotator",
    "register_filters": "filter",
    "register_trainers": "trainer",
}


@define
class PluginInfo:
    """What ``dualalign plugins`` shows: a plugin, its version, status and components by kind."""

    name: str
    distribution: str
    version: str
    status: str = "ok"  # ok | broken
    error: str | None = None
    components: dict[str, list[str]] = field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "components": self.components,
        }


@define
class Registry:
    """Every loaded plugin and every component it registered, by kind and name."""

    plugins: dict[str, PluginInfo] = field(factory=dict)
    components: dict[str, dict[str, type[Component]]] = field(factory=dict)
    diseases: dict[str, Any] = field(factory=dict)

    def get(self, kind: str, name: str, *, file: str | None = None, field_path: str | None = None) -> Any:
        table = self.diseases if kind == "disease" else self.components.get(kind, {})
        if name not in table:
            known = ", ".join(sorted(table)) or "none registered"
            raise BadInput(f"unknown {kind.replace('_', ' ')} {name!r} (available: {known})",
                           file=file, field=field_path)
        return table[name]

    def create(self, kind: str, name: str, options: dict[str, Any] | None = None, *, file: str | None = None,
               field_path: str = "", name_field: str | None = None, options_field: str | None = None) -> Any:
        """Build a registered component from its options, validated against its ``options_schema``.

        A generator or annotator name that is a registered LLM backend gives that backend wrapped for the role.
        Bad options (schema, or the constructor's TypeError/ValueError) raise BadInput naming the field:
        ``name_field`` / ``options_field`` (default ``<field_path>.name`` / ``.options``) as the config spells them.
        """
        from dualalign_core.schemas import validate

        prefix = f"{field_path}." if field_path else ""
        name_field = name_field or (f"{prefix}name" if field_path else kind)
        options_field = options_field or f"{prefix}options"
        if kind in ("generator", "annotator") and name not in self.components.get(kind, {}) \
                and name in self.components.get("llm_backend", {}):
            from dualalign_core.llm import for_role  # an LLM backend serves as a generator and an annotator

            return for_role(kind, self.create("llm_backend", name, options, file=file, field_path=field_path,
                                              name_field=name_field, options_field=options_field))
        if kind in ("generator", "annotator") and name not in self.components.get(kind, {}):
            known = sorted({*self.components.get(kind, {}), *self.components.get("llm_backend", {})})
            raise BadInput(f"unknown {kind} {name!r} (available: {', '.join(known) or 'none registered'})",
                           file=file, field=name_field)
        cls = self.get(kind, name, file=file, field_path=name_field)
        options = dict(options or {})
        validate(options, cls.options_schema, file=file, prefix=options_field)
        try:
            return cls(**options)
        except (TypeError, ValueError) as exc:
            raise BadInput(str(exc), file=file, field=options_field) from None
        except (DualAlignError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the plugin's constructor failed: name it, never a traceback
            raise PluginError(f"{describe_component(cls, kind)} failed to start: {describe_exception(exc)}",
                              plugin=cls.plugin, component=name) from exc

    def names(self, kind: str) -> list[str]:
        table = self.diseases if kind == "disease" else self.components.get(kind, {})
        return sorted(table)

    def versions(self) -> dict[str, str]:
        return {p.name: p.version for p in self.plugins.values()}


def _strict() -> bool:
    return os.environ.get("DUALALIGN_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _allowed() -> set[str] | None:
    raw = os.environ.get("DUALALIGN_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def describe_exception(exc: BaseException) -> str:
    """``RuntimeError: boom`` on one line (``SystemExit: 4``, ``KeyboardInterrupt``)."""
    return " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())


def describe_component(component: Any, kind: str | None = None) -> str:
    """``filter 'near-duplicate' (plugin dualalign-core 0.1.0)`` for a component class or instance."""
    if kind is None:
        kind = next((k for k, base in COMPONENT_KINDS.items() if base is not Component
                     and isinstance(component, base)), "component")
    name = getattr(component, "name", "") or type(component).__name__
    plugin = " ".join(filter(None, (getattr(component, "plugin", ""), getattr(component, "plugin_version", ""))))
    return f"{kind.replace('_', ' ')} {name!r}" + (f" (plugin {plugin})" if plugin else "")


class plugin_call:  # noqa: N801 - used like a function: ``with plugin_call(component, "generate"): ...``
    """Run plugin code: any exception it raises (``SystemExit`` included) becomes a :class:`ComponentError`
    naming the component and its plugin. Our own errors, Ctrl-C and task cancellation pass through."""

    def __init__(self, component: Any, action: str, kind: str | None = None):
        self.component, self.action, self.kind = component, action, kind

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None or isinstance(exc, (DualAlignError, KeyboardInterrupt, asyncio.CancelledError,
                                           GeneratorExit)):
            return False
        c = self.component
        raise ComponentError(f"{describe_component(c, self.kind)} failed in {self.action}: {describe_exception(exc)}",
                             plugin=getattr(c, "plugin", None), component=getattr(c, "name", None),
                             usage=getattr(exc, "usage", None)) from exc


def _fail(info: PluginInfo, exc: BaseException) -> None:
    info.status = "broken"
    info.error = describe_exception(exc)
    if _strict():
        raise PluginError(f"plugin {info.name!r} ({info.distribution}) failed: {info.error}") from exc
    log.warning("plugin %r is broken and was skipped: %s", info.name, info.error)


def _register_components(pm: pluggy.PluginManager, registry: Registry, name: str, module: Any) -> None:
    info = registry.plugins[name]
    for impl in pm.hook.register_diseases.get_hookimpls():
        if impl.plugin is module:
            impl.function(**_args(impl, _disease_register(registry, info)))
    for hook_name, kind in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is module:
                impl.function(**_args(impl, _component_register(registry, info, kind)))


def _args(impl: pluggy.HookImpl, register: Callable[..., None]) -> dict[str, Any]:
    available = {"register": register}
    return {arg: available[arg] for arg in impl.argnames}


def _component_register(registry: Registry, info: PluginInfo, kind: str) -> Callable[[str, type], None]:
    base = COMPONENT_KINDS[kind]

    def register(name: str, cls: type) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"{info.name}: {kind} {name!r} must be a subclass of {base.__name__}")
        table = registry.components.setdefault(kind, {})
        if name in table:
            raise PluginError(f"{info.name}: {kind} {name!r} is already registered by {table[name].plugin}")
        cls.name, cls.plugin, cls.plugin_version = name, info.distribution, info.version
        table[name] = cls
        info.components.setdefault(kind, []).append(name)

    return register


def _disease_register(registry: Registry, info: PluginInfo) -> Callable[[Any], None]:
    def register(pack: Any) -> None:
        if pack.name in registry.diseases:
            raise PluginError(f"{info.name}: disease {pack.name!r} is already registered")
        pack = pack.with_plugin(info.distribution, info.version)
        registry.diseases[pack.name] = pack
        info.components.setdefault("disease", []).append(pack.name)

    return register


def load_registry() -> Registry:
    """Discover and load every plugin; never raises for a broken plugin unless strict."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    allowed = _allowed()
    entry_points = sorted(md.entry_points(group=GROUP), key=lambda ep: (ep.name != CORE, ep.name))
    for ep in entry_points:
        dist = ep.dist.name if ep.dist else ep.value.split(".")[0]
        if allowed is not None and ep.name != CORE and ep.name not in allowed and dist not in allowed:
            continue
        if ep.name in registry.plugins:
            continue
        version = ep.dist.version if ep.dist else "unknown"
        info = registry.plugins[ep.name] = PluginInfo(name=ep.name, distribution=dist, version=version)
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            _register_components(pm, registry, ep.name, module)
        except BaseException as exc:  # one broken plugin (even sys.exit, Ctrl-C at import) must not take the host down
            _rollback(registry, info)
            _fail(info, exc)
    return registry


def _rollback(registry: Registry, info: PluginInfo) -> None:
    for kind, names in info.components.items():
        table = registry.diseases if kind == "disease" else registry.components.get(kind, {})
        for n in names:
            table.pop(n, None)
    info.components = {}


_REGISTRY: Registry | None = None


def get_registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        _REGISTRY = load_registry()
    return _REGISTRY

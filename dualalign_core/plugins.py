"""The one plugin manager: discovers entry points in group ``dualalign`` and loads each into the registry.

Each plugin loads in its own try/except so one broken plugin cannot take the CLI down. Loading checks the
contract: the plugin's ``DUALALIGN_API`` range against the core's ``API_VERSION`` (outside it: ``incompatible``,
nothing loaded), unknown hook names (pluggy's ``check_pending``), each class against its kind's base class,
component names (see :mod:`dualalign_core.registry`), and duplicate entry-point names. A hookspec marked
``warn_on_impl`` (a deprecated hook) adds a note to the plugins implementing it.

``DUALALIGN_STRICT_PLUGINS=1`` makes any of these fatal. ``DUALALIGN_PLUGINS=a,b`` loads only those plugins,
``DUALALIGN_PLUGINS=-c`` loads all but ``c`` (entry-point or distribution names). The core's own components
(entry point ``core``) register through the same mechanism and are always loaded.
"""

from __future__ import annotations

import ast
import asyncio
import difflib
import importlib.metadata as md
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal

import pluggy

from dualalign_core import API_VERSION, hookspecs
from dualalign_core.components import COMPONENT_KINDS, Component
from dualalign_core.errors import BadInput, ComponentError, DualAlignError, PluginError
from dualalign_core.registry import (
    CORE,
    SEP,
    ComponentRef,
    PluginInfo,
    Registry,
    describe_component,
    describe_exception,
)

__all__ = [
    "CORE",
    "GROUP",
    "HOOKS",
    "SEP",
    "ComponentRef",
    "PluginInfo",
    "Registry",
    "add_plugin",
    "describe_component",
    "describe_exception",
    "get_registry",
    "load_registry",
    "new_manager",
    "plugin_call",
]

GROUP = "dualalign"
API_ATTRIBUTE = "DUALALIGN_API"
log = logging.getLogger("dualalign.plugins")

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


def _strict() -> bool:
    return os.environ.get("DUALALIGN_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _selection() -> tuple[set[str] | None, set[str]]:
    """(allowed or None for all, excluded) from ``DUALALIGN_PLUGINS``."""
    raw = os.environ.get("DUALALIGN_PLUGINS")
    if raw is None:
        return None, set()
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    excluded = {p[1:].strip() for p in parts if p.startswith("-")}
    allowed = {p for p in parts if not p.startswith("-")}
    if CORE in excluded:
        raise BadInput("the core cannot be excluded (it is always loaded)", field="DUALALIGN_PLUGINS")
    return (allowed or None) if allowed or not excluded else None, excluded


def _selected(name: str, dist: str, allowed: set[str] | None, excluded: set[str]) -> bool:
    if name == CORE:
        return True
    if name in excluded or dist in excluded:
        return False
    return allowed is None or name in allowed or dist in allowed


def _base(kind: str) -> type[Component]:
    if kind == "llm_backend":
        from dualalign_core.llm.backend import LLMBackend

        return LLMBackend
    return COMPONENT_KINDS[kind]


def _problem(info: PluginInfo, message: str) -> None:
    """A contract problem that leaves the plugin loaded: warned, fatal under strict."""
    if _strict():
        raise PluginError(f"plugin {info.name!r} ({info.distribution}): {message}")
    log.warning("plugin %r: %s", info.name, message)


def _fail(info: PluginInfo, exc: BaseException) -> None:
    info.status = "broken"
    info.error = str(exc) if isinstance(exc, PluginError) else describe_exception(exc)
    if _strict():
        raise PluginError(f"plugin {info.name!r} ({info.distribution}) failed: {info.error}") from exc
    log.warning("plugin %r is broken and was skipped: %s", info.name, info.error)


def _api_compatible(info: PluginInfo, module: Any) -> bool:
    """Check the plugin's declared ``DUALALIGN_API`` range; mark it incompatible if the core's is outside."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    declared = getattr(module, API_ATTRIBUTE, None)
    if declared is None:
        if info.name != CORE:
            info.notes.append(f"declares no {API_ATTRIBUTE} range; loaded as if it supports API {API_VERSION}")
        return True
    info.api = str(declared)
    try:
        supported = SpecifierSet(str(declared))
    except InvalidSpecifier:
        raise PluginError(f"{API_ATTRIBUTE} = {declared!r} is not a version range (e.g. '>=1.0,<2')") from None
    if supported.contains(API_VERSION, prereleases=True):
        return True
    info.status = "incompatible"
    info.error = f"supports DualAlign API {declared}, this core provides API {API_VERSION}"
    return False


def _check_hooks(pm: pluggy.PluginManager, module: Any) -> None:
    """pluggy's ``check_pending``: a hook implementation with no hookspec (a misspelt hook) is an error."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        unknown = sorted(
            name
            for name, caller in vars(pm.hook).items()
            if isinstance(caller, pluggy.HookCaller)
            and not caller.has_spec()
            and any(impl.plugin is module and not impl.optionalhook for impl in caller.get_hookimpls())
        )
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, [n for n in vars(pm.hook) if pm.hook.__dict__[n].has_spec()], 1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise PluginError(f"unknown hook {', '.join(hints) or 'name'}: no such hookspec in {GROUP}") from None


def _args(impl: pluggy.HookImpl, register: Callable[..., None]) -> dict[str, Any]:
    available = {"register": register}
    return {arg: available[arg] for arg in impl.argnames}


def _component_register(registry: Registry, info: PluginInfo, kind: str) -> Callable[[str, Any], None]:
    base = _base(kind)

    def register(name: str, cls: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            what = cls.__name__ if isinstance(cls, type) else repr(cls)
            raise PluginError(f"{_label(kind)} {name!r}: {what} is not a subclass of {base.__module__}.{base.__name__}")
        registry.add(kind, info, name, cls)  # identity stays with the registry: nothing is written onto cls
        if kind == "filter" and getattr(cls, "default_on", False) and info.name != CORE:
            info.notes.append(
                f"filter {name!r} says default_on, which only the core's filters are: it runs where a config "
                "lists it under [filters] use"
            )

    return register


def _disease_register(registry: Registry, info: PluginInfo) -> Callable[[Any], None]:
    def register(pack: Any) -> None:
        registry.add("disease", info, pack.name, pack.with_plugin(info.distribution, info.version))

    return register


def _label(kind: str) -> str:
    return kind.replace("_", " ")


def _register_components(pm: pluggy.PluginManager, registry: Registry, info: PluginInfo, module: Any) -> None:
    for impl in pm.hook.register_diseases.get_hookimpls():
        if impl.plugin is module:
            impl.function(**_args(impl, _disease_register(registry, info)))
    for hook_name, kind in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is module:
                impl.function(**_args(impl, _component_register(registry, info, kind)))


def new_manager(*extra_specs: Any) -> pluggy.PluginManager:
    """A plugin manager with the core's hookspecs (and any ``extra_specs``)."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for spec in extra_specs:
        pm.add_hookspecs(spec)
    return pm


def add_plugin(
    pm: pluggy.PluginManager, registry: Registry, info: PluginInfo, load: Callable[[], ModuleType | object]
) -> None:
    """Load one plugin (``load()`` gives its module or object) into ``pm`` and ``registry``, checking the
    contract. Failure marks it broken with the reason and withdraws what it registered; never raises unless
    strict. Call :meth:`Registry.settle` once every plugin is in."""
    registry.plugins[info.name] = info
    try:
        module = load()
        compatible = _api_compatible(info, module)
    except BaseException as exc:  # one broken plugin (even sys.exit, Ctrl-C at import) must not take the host down
        _fail(info, exc)
        return
    if not compatible:
        _problem(info, f"incompatible, not loaded: {info.error}")
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pm.register(module, name=info.name)
        for w in caught:  # warn_on_impl: the plugin implements a deprecated hook
            info.notes.append(f"{w.category.__name__}: {w.message}")
            log.warning("plugin %r: %s", info.name, w.message)
        _check_hooks(pm, module)
        _register_components(pm, registry, info, module)
        if info.name != CORE:
            info.notes.extend(internal_imports(module))
    except BaseException as exc:
        registry.remove(info)
        if pm.is_registered(module):
            pm.unregister(module)
        _fail(info, exc)
        return
    for message in info.problems:
        _problem(info, message)


PUBLIC_MODULES = frozenset(
    {"dualalign_core", "dualalign_core.api", "dualalign_core.testing", "dualalign_core.hookspecs"}
)
"""What plugins may import from the core; every other module is internal and may change in any release."""
MAX_SCANNED = 200  # files of a plugin package read for internal imports


def internal_imports(module: Any) -> list[str]:
    """A note per internal core module the plugin's source imports (its package's files, read, never run)."""
    origin = getattr(module, "__file__", None)
    if not origin:
        return []
    path = Path(origin)
    files = sorted(path.parent.rglob("*.py"))[:MAX_SCANNED] if path.name == "__init__.py" else [path]
    found: dict[str, str] = {}
    for file in files:
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("dualalign_core") and name not in PUBLIC_MODULES:
                    found.setdefault(name, f"{file.name}:{getattr(node, 'lineno', 0)}")
    return [
        f"imports {name} ({where}): not part of the API, may change in any release; use dualalign_core.api "
        "(see docs/migration.md)"
        for name, where in sorted(found.items())
    ]


def _entry_points(group: str) -> list[md.EntryPoint]:
    """The group's entry points: the core first, then by name and distribution (a stable order)."""

    def key(ep: md.EntryPoint) -> tuple[bool, str, str]:
        return ep.name != CORE, ep.name, ep.dist.name if ep.dist else ""

    return sorted(md.entry_points(group=group), key=key)


def load_registry(entry_points: Iterable[md.EntryPoint] | None = None) -> Registry:
    """Discover and load every plugin; never raises for a broken plugin unless strict."""
    pm = new_manager()
    registry = Registry()
    allowed, excluded = _selection()
    for ep in _entry_points(GROUP) if entry_points is None else entry_points:
        dist = ep.dist.name if ep.dist else ep.value.split(".")[0]
        version = ep.dist.version if ep.dist else "unknown"
        if not _selected(ep.name, dist, allowed, excluded):
            continue
        first = registry.plugins.get(ep.name)
        if first is not None:
            info = PluginInfo(
                name=ep.name,
                distribution=dist,
                version=version,
                status="duplicate",
                error=f"entry point {ep.name!r} of {dist} {version} is also declared by "
                f"{first.distribution} {first.version}, which was loaded; this one was not",
            )
            registry.plugins[f"{ep.name}{SEP}{dist}"] = info
            _problem(info, info.error or "")
            continue
        add_plugin(pm, registry, PluginInfo(name=ep.name, distribution=dist, version=version), ep.load)
    registry.settle()
    return registry


class plugin_call:  # noqa: N801 - used like a function: ``with plugin_call(component, "generate"): ...``
    """Run plugin code: any exception it raises (``SystemExit`` included) becomes a :class:`ComponentError`
    naming the component and its plugin. Our own errors and a real cancellation of the running task pass
    through; a ``CancelledError`` the plugin raised itself is its fault; a ``KeyboardInterrupt`` it raised
    also stops the command as Ctrl-C does (:func:`dualalign_core.signals.interrupt_from_plugin`)."""

    def __init__(self, component: Any, action: str, kind: str | None = None):
        self.component, self.action, self.kind = component, action, kind

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc is None or isinstance(exc, (DualAlignError, GeneratorExit)):
            return False
        if isinstance(exc, asyncio.CancelledError) and _task_cancelling():
            return False
        if isinstance(exc, KeyboardInterrupt):
            from dualalign_core.signals import interrupt_from_plugin

            interrupt_from_plugin()
        c = self.component
        raise ComponentError(
            f"{describe_component(c, self.kind)} failed in {self.action}: {describe_exception(exc)}",
            plugin=getattr(c, "plugin", None),
            component=getattr(c, "name", None),
            usage=getattr(exc, "usage", None),
        ) from exc


def _task_cancelling() -> bool:
    """Whether the running task is being cancelled (a real cancellation, not one a plugin raised).
    True where it cannot be told (no running task; Python 3.10 has no ``Task.cancelling``)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return True
    cancelling = getattr(task, "cancelling", None)
    return task is None or not callable(cancelling) or cancelling() > 0


_REGISTRY: Registry | None = None


def get_registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None or reload:
        _REGISTRY = load_registry()
    return _REGISTRY

"""The registry: every loaded plugin, and each component under ``plugin:name`` with its bare name as an alias.

A bare name resolves while exactly one plugin registered it. When two plugins register the same bare name, both
components stay reachable as ``plugin:name`` and the bare name is ambiguous (a config using it gets exit 2
naming the candidates); the core's bare names stay the core's. ``plugin`` is the entry-point name.
"""

from __future__ import annotations

import traceback
from typing import Any

from attrs import define, field, frozen

from dualalign_core.components import COMPONENT_KINDS, Component
from dualalign_core.errors import BadInput, DualAlignError, PluginError

SEP = ":"
CORE = "core"


@define
class PluginInfo:
    """What ``dualalign plugins`` shows about one plugin.

    ``status``: ``ok``, ``broken`` (``error`` says why), ``incompatible`` (its ``api`` range excludes the core's
    API version) or ``duplicate`` (another distribution took its entry-point name first). ``notes`` inform;
    ``problems`` (a component name clash) fail strict mode. ``components``: kind -> names as configs spell them.
    """

    name: str
    distribution: str
    version: str
    status: str = "ok"
    error: str | None = None
    api: str | None = None
    components: dict[str, list[str]] = field(factory=dict)
    notes: list[str] = field(factory=list)
    problems: list[str] = field(factory=list)
    registered: list[tuple[str, str]] = field(factory=list, repr=False)  # (kind, bare name), in order

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "api": self.api,
            "components": self.components,
            "notes": list(self.notes),
            "problems": list(self.problems),
        }


@frozen
class ComponentRef:
    """A resolved component: its kind, the name configs use, ``plugin:name``, and the plugin's distribution and
    version (what a manifest and a run id record)."""

    kind: str
    name: str
    qualified: str
    plugin: str
    distribution: str
    version: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "name": self.name,
            "qualified": self.qualified,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
        }


def _label(kind: str) -> str:
    return kind.replace("_", " ")


@define
class Registry:
    """Every loaded plugin and everything it registered: ``components[kind]`` and ``diseases`` are keyed by
    ``plugin:name``; ``aliases[kind][bare]`` lists the qualified names a bare name may mean."""

    plugins: dict[str, PluginInfo] = field(factory=dict)
    components: dict[str, dict[str, type[Component]]] = field(factory=dict)
    diseases: dict[str, Any] = field(factory=dict)
    aliases: dict[str, dict[str, list[str]]] = field(factory=dict)

    def _table(self, kind: str) -> dict[str, Any]:
        return self.diseases if kind == "disease" else self.components.get(kind, {})

    # -- registration (the loader in dualalign_core.plugins calls these) ------------------------------------
    def add(self, kind: str, info: PluginInfo, bare: str, obj: Any) -> str:
        """Record ``obj`` as ``<plugin>:<bare>`` and return that name. A bare name another plugin holds becomes
        ambiguous, or stays the core's; either way the clash is one of ``info.problems``, naming both plugins."""
        if not isinstance(bare, str) or not bare or SEP in bare:
            raise PluginError(f"{info.name}: {_label(kind)} name {bare!r} must be a non-empty string without {SEP!r}")
        qualified = f"{info.name}{SEP}{bare}"
        table = self.diseases if kind == "disease" else self.components.setdefault(kind, {})
        if qualified in table:
            raise PluginError(f"{info.name}: {_label(kind)} {bare!r} is registered twice")
        holders = self.aliases.setdefault(kind, {}).setdefault(bare, [])
        table[qualified] = obj
        info.registered.append((kind, bare))
        others = ", ".join(repr(self._owner(q)) for q in holders)
        if any(self._owner(q) == CORE for q in holders):
            info.problems.append(
                f"{_label(kind)} {bare!r} is also registered by plugin 'core': {bare!r} stays "
                f"the core's, this one is {qualified!r}"
            )
        elif holders:
            holders.append(qualified)
            info.problems.append(
                f"{_label(kind)} {bare!r} is also registered by plugin {others}: the bare name "
                f"is ambiguous, configs must say one of {', '.join(map(repr, holders))}"
            )
        else:
            holders.append(qualified)
        return qualified

    def remove(self, info: PluginInfo) -> None:
        """Withdraw everything ``info`` registered (its load failed part-way)."""
        for kind, bare in info.registered:
            qualified = f"{info.name}{SEP}{bare}"
            (self.diseases if kind == "disease" else self.components.get(kind, {})).pop(qualified, None)
            holders = self.aliases.get(kind, {}).get(bare, [])
            if qualified in holders:
                holders.remove(qualified)
            if not holders:
                self.aliases.get(kind, {}).pop(bare, None)
        info.registered, info.components, info.problems = [], {}, []

    def settle(self) -> None:
        """After loading: each plugin's ``components`` as configs spell them (bare while unambiguous, else
        ``plugin:name``)."""
        for info in self.plugins.values():
            info.components = {}
            for kind, bare in info.registered:
                qualified = f"{info.name}{SEP}{bare}"
                shown = self.display_name(kind, qualified)
                info.components.setdefault(kind, []).append(shown)

    # -- lookup ---------------------------------------------------------------------------------------------
    @staticmethod
    def _owner(qualified: str) -> str:
        return qualified.partition(SEP)[0] if SEP in qualified else ""

    def display_name(self, kind: str, qualified: str) -> str:
        """The bare name if it means only this component, else ``plugin:name``."""
        bare = qualified.partition(SEP)[2] or qualified
        return bare if self.aliases.get(kind, {}).get(bare, []) == [qualified] else qualified

    def lookup(self, kind: str, name: str, *, file: str | None = None, field_path: str | None = None) -> str | None:
        """The ``plugin:name`` key ``name`` means, None if nothing has that name; BadInput if it is ambiguous."""
        if name in self._table(kind):
            return name
        holders = self.aliases.get(kind, {}).get(name, [])
        if len(holders) > 1:
            plugins = " and ".join(repr(self._owner(q)) for q in holders)
            raise BadInput(
                f"{_label(kind)} name {name!r} is ambiguous: plugins {plugins} each register one; "
                f"write one of {', '.join(repr(q) for q in holders)}",
                file=file,
                field=field_path,
            )
        return holders[0] if holders else None

    def _resolve(self, kind: str, name: str, file: str | None, field_path: str | None) -> tuple[str, str]:
        """(kind, key): a generator or annotator name may be an LLM backend's (it serves both roles)."""
        key = self.lookup(kind, name, file=file, field_path=field_path)
        if key is None and kind in ("generator", "annotator"):
            backend = self.lookup("llm_backend", name, file=file, field_path=field_path)
            if backend is not None:
                return "llm_backend", backend
        if key is None:
            known = sorted(
                {*self.names(kind), *(self.names("llm_backend") if kind in ("generator", "annotator") else [])}
            )
            raise BadInput(
                f"unknown {_label(kind)} {name!r} (available: {', '.join(known) or 'none registered'})"
                + self._broken_hint(name),
                file=file,
                field=field_path,
            )
        return kind, key

    def get(self, kind: str, name: str, *, file: str | None = None, field_path: str | None = None) -> Any:
        """The class (or disease pack) ``name`` means; BadInput naming ``field_path`` if unknown or ambiguous."""
        key = self.lookup(kind, name, file=file, field_path=field_path)
        if key is None:
            known = ", ".join(self.names(kind)) or "none registered"
            raise BadInput(
                f"unknown {_label(kind)} {name!r} (available: {known})" + self._broken_hint(name),
                file=file,
                field=field_path,
            )
        return self._table(kind)[key]

    def _broken_hint(self, name: str) -> str:
        """For an unknown component: the broken or incompatible plugins that might have provided it, with why
        (the plugin named like the component first), pointing at the migration guide."""
        bare = name.split(":")[-1]
        down = [p for p in self.plugins.values() if p.status in ("broken", "incompatible")]
        down.sort(key=lambda p: (bare not in (p.name, p.distribution.removeprefix("dualalign-")), p.name))
        if not down:
            return ""
        why = "; ".join(f"plugin {p.name!r} ({p.distribution}) is {p.status}: {p.error}" for p in down[:3])
        return f"; {why} (see docs/migration.md)"

    def ref(self, kind: str, name: str, *, file: str | None = None, field_path: str | None = None) -> ComponentRef:
        """Where the component ``name`` comes from: plugin, distribution and version."""
        kind, key = self._resolve(kind, name, file, field_path)
        return self._ref(kind, key)

    def _ref(self, kind: str, key: str) -> ComponentRef:
        owner = self.plugins.get(self._owner(key))
        return ComponentRef(
            kind=kind,
            name=self.display_name(kind, key),
            qualified=key,
            plugin=self._owner(key),
            distribution=owner.distribution if owner else "",
            version=owner.version if owner else "",
        )

    def create(
        self,
        kind: str,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        file: str | None = None,
        field_path: str = "",
        name_field: str | None = None,
        options_field: str | None = None,
    ) -> Any:
        """Build a registered component from its options, validated against its ``options_schema``.

        A generator or annotator name that is a registered LLM backend gives that backend wrapped for the role.
        Bad options (schema, or the constructor's TypeError/ValueError) raise BadInput naming the field:
        ``name_field`` / ``options_field`` (default ``<field_path>.name`` / ``.options``) as the config spells them.
        """
        from dualalign_core.jsonschemas import validate

        prefix = f"{field_path}." if field_path else ""
        name_field = name_field or (f"{prefix}name" if field_path else kind)
        options_field = options_field or f"{prefix}options"
        resolved, key = self._resolve(kind, name, file, name_field)
        if resolved != kind:
            from dualalign_core.llm import for_role  # an LLM backend serves as a generator and an annotator

            return for_role(
                kind,
                self.create(
                    resolved,
                    key,
                    options,
                    file=file,
                    field_path=field_path,
                    name_field=name_field,
                    options_field=options_field,
                ),
            )
        cls = self._table(kind)[key]
        ref = self._ref(kind, key)
        options = dict(options or {})
        validate(options, cls.options_schema, file=file, prefix=options_field)
        try:
            return bind_identity(cls(**options), ref)
        except (TypeError, ValueError) as exc:
            raise BadInput(str(exc), file=file, field=options_field) from None
        except (DualAlignError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the plugin's constructor failed: name it, never a traceback
            plugin = " ".join(filter(None, (ref.distribution, ref.version)))
            raise PluginError(
                f"{_label(kind)} {ref.name!r}"
                + (f" (plugin {plugin})" if plugin else "")
                + f" failed to start: {describe_exception(exc)}",
                plugin=ref.distribution,
                component=ref.name,
            ) from exc

    def names(self, kind: str) -> list[str]:
        """Every ``kind`` name as configs spell it (bare while unambiguous), sorted."""
        return sorted(self.display_name(kind, key) for key in self._table(kind))

    def default_filters(self) -> list[str]:
        """The filters a run uses when its config lists none: the core's filters whose class is ``default_on``.
        A plugin's filter never joins them (installing a plugin must not change what an existing config runs):
        a config names it under ``[filters] use``."""
        table = self.components.get("filter", {})
        return sorted(
            self.display_name("filter", key)
            for key, cls in table.items()
            if getattr(cls, "default_on", False) and self._owner(key) == CORE
        )

    def versions(self) -> dict[str, str]:
        """Plugin name -> version, for the plugins that loaded or tried to."""
        return {p.name: p.version for p in self.plugins.values() if p.status != "duplicate"}


def bind_identity(component: Any, ref: ComponentRef) -> Any:
    """``component`` (a built instance) carrying who it is: the name configs use, its plugin's distribution and
    version, on the instance (never on the plugin's class, which may be frozen, shared or registered twice)."""
    for attr, value in (("name", ref.name), ("plugin", ref.distribution), ("plugin_version", ref.version)):
        object.__setattr__(component, attr, value)  # past a frozen attrs class's __setattr__: identity is ours
    return component


def describe_exception(exc: BaseException) -> str:
    """``RuntimeError: boom`` on one line (``SystemExit: 4``, ``KeyboardInterrupt``)."""
    return " ".join("".join(traceback.format_exception_only(type(exc), exc)).split())


def describe_component(component: Any, kind: str | None = None) -> str:
    """``filter 'near-duplicate' (plugin dualalign-core 0.1.0)`` for a component class or instance."""
    if kind is None:
        kind = next(
            (k for k, base in COMPONENT_KINDS.items() if base is not Component and isinstance(component, base)),
            "component",
        )
    name = getattr(component, "name", "") or type(component).__name__
    plugin = " ".join(filter(None, (getattr(component, "plugin", ""), getattr(component, "plugin_version", ""))))
    return f"{_label(kind)} {name!r}" + (f" (plugin {plugin})" if plugin else "")

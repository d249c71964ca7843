"""Extension points. Each hook receives a ``register`` callback; call it once per component.

The host decides names, rejects duplicates and records which plugin registered what.
Implementations ask only for the arguments they need (pluggy passes by name).

Deprecating a hook: keep its spec for the rest of the major API version, marked with :func:`deprecated`
(pluggy's ``warn_on_impl``); a plugin implementing it still loads, and ``dualalign plugins`` shows the warning
as a note on that plugin. The next major API version removes the spec (see CHANGELOG.md).
"""

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("dualalign")
hookimpl = pluggy.HookimplMarker("dualalign")


def deprecated(message: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A hookspec whose implementations warn at registration: ``@deprecated("use register_x (API 1.1)")``."""
    return hookspec(warn_on_impl=DeprecationWarning(message))


@hookspec
def register_diseases(register):
    """Register disease packs: ``register(pack)`` with a :class:`~dualalign_core.disease.DiseasePack`."""


@hookspec
def register_persona_sources(register):
    """Register persona sources: ``register(name, cls)``, cls a :class:`~dualalign_core.components.PersonaSource`."""


@hookspec
def register_trajectory_samplers(register):
    """Register trajectory samplers: ``register(name, cls)`` (persona -> note plans)."""


@hookspec
def register_generators(register):
    """Register note generators: ``register(name, cls)`` (note plan -> note text)."""


@hookspec
def register_llm_backends(register):
    """Register LLM backends: ``register(name, cls)``; each becomes a generator and an annotator backend."""


@hookspec
def register_annotators(register):
    """Register sentence annotators: ``register(name, cls)`` (note sentences -> labels)."""


@hookspec
def register_filters(register):
    """Register rejection filters: ``register(name, cls)``."""


@hookspec
def register_trainers(register):
    """Register classifier trainers: ``register(name, cls)``."""

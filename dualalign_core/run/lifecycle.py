"""The component lifecycle the run drives: ``open(ctx)`` before the first unit, ``aclose()`` at the end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualalign_core.context import RunContext


def _unique(components: Iterable[Any]) -> list[Any]:
    """Each component once, in order (one backend may serve as generator and annotator)."""
    seen: set[int] = set()
    out = []
    for component in components:
        if component is not None and id(component) not in seen:
            seen.add(id(component))
            out.append(component)
    return out


async def open_components(components: Iterable[Any], ctx: RunContext) -> None:
    """Call ``open(ctx)`` on each component that has it, in order."""
    for component in _unique(components):
        opener = getattr(component, "open", None)
        if callable(opener):
            await opener(ctx)


async def close_components(components: Iterable[Any]) -> None:
    """Call ``aclose()`` on every component that has it, in reverse order; every one is closed even when
    an earlier one fails, and the first failure is raised afterwards."""
    first: BaseException | None = None
    for component in reversed(_unique(components)):
        closer = getattr(component, "aclose", None)
        if not callable(closer):
            continue
        try:
            await closer()
        except Exception as exc:  # close the rest, then report the first
            first = first or exc
    if first is not None:
        raise first

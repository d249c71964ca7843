"""Several SDK clients behind one backend, so no HTTP connection pool grows large.

httpx/httpcore scan the whole connection pool on every request, so one client with hundreds of connections
spends more CPU per request the higher the concurrency. Backends hand requests round-robin to
ceil(concurrency / per_client) clients instead; the factory builds one vendor client (SDK imports stay in
the vendor plugin).
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PER_CLIENT = 64


class ClientPool(Generic[T]):
    """Lazily built clients, handed out round-robin; ``connections`` is each client's pool size."""

    def __init__(self, factory: Callable[[int], T], concurrency: int, per_client: int = PER_CLIENT):
        self.size = max(1, math.ceil(max(1, concurrency) / per_client))
        self.connections = max(1, math.ceil(max(1, concurrency) / self.size))
        self._factory = factory
        self._clients: list[T] = []
        self._turn = itertools.cycle(range(self.size))

    def next(self) -> T:
        """The next client in turn (built on first use)."""
        i = next(self._turn)
        while len(self._clients) <= i:
            self._clients.append(self._factory(self.connections))
        return self._clients[i]

    def first(self) -> T:
        """One fixed client, for calls that must see the same session (batch uploads, polling)."""
        if not self._clients:
            self._clients.append(self._factory(self.connections))
        return self._clients[0]

    def built(self) -> list[T]:
        return list(self._clients)

    async def aclose(self) -> None:
        """Close every client built so far, once: ``aclose()`` (httpx.AsyncClient, the async SDK clients)
        when the client has it, else ``close()`` (awaited when it is a coroutine)."""
        clients, self._clients = self._clients, []
        for client in clients:
            await close_client(client)


async def close_client(client: Any) -> None:
    """Close one client whichever way it closes: ``aclose()``, or ``close()`` sync or async."""
    closer = getattr(client, "aclose", None) or getattr(client, "close", None)
    if closer is None:
        return
    result = closer()
    if inspect.isawaitable(result):
        await result

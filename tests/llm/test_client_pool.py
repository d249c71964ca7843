"""The client pool keeps each SDK client's connection pool small and spreads requests round-robin."""

from __future__ import annotations

from dualalign_core.llm.clients import ClientPool


def test_pool_sizes_and_round_robin():
    built: list[int] = []

    def factory(connections: int) -> int:
        built.append(connections)
        return len(built) - 1

    pool = ClientPool(factory, concurrency=256, per_client=64)
    assert (pool.size, pool.connections) == (4, 64)
    assert [pool.next() for _ in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert built == [64, 64, 64, 64] and pool.first() == 0
    small = ClientPool(factory, concurrency=10)
    assert (small.size, small.connections) == (1, 10)


def test_vendor_backends_spread_requests_over_clients(server, vendor):
    """Both vendors' backends build ceil(concurrency / 64) clients for a high concurrency."""
    from llm_helpers import MODELS

    from dualalign_core.plugins import get_registry

    cls = get_registry().get("llm_backend", vendor)
    url = server.url + ("/v1" if vendor == "openai" else "")
    backend = cls(model=MODELS[vendor], base_url=url)
    backend.concurrency = 200
    clients = {id(backend.clients.next()) for _ in range(8)}
    assert len(clients) == 4 and backend.clients.connections == 50


def test_pool_closes_httpx_clients_that_only_have_aclose(server):
    """httpx.AsyncClient closes with ``aclose()`` (its ``close`` does not exist): the pool calls it, once."""
    import asyncio

    import httpx

    async def main() -> list[httpx.AsyncClient]:
        pool = ClientPool(
            lambda n: httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=n)), concurrency=130
        )
        clients = [pool.next() for _ in range(3)]
        replies = await asyncio.gather(*(c.get("/v1/models") for c in clients))
        assert all(r.status_code < 500 for r in replies)
        await pool.aclose()
        await pool.aclose()  # a second close has nothing left to close
        return clients

    clients = asyncio.run(main())
    assert len({id(c) for c in clients}) == 3 and all(c.is_closed for c in clients)


def test_vendor_backend_aclose_closes_its_sdk_clients(server, vendor):
    import asyncio

    from llm_helpers import make_backend

    from dualalign_core.llm import for_role

    async def main():
        gen = for_role("generator", make_backend(vendor, server))
        gen.concurrency = 70
        clients = [gen.backend.clients.next() for _ in range(2)]
        await gen.aclose()
        return clients

    clients = asyncio.run(main())
    assert all(c.is_closed() for c in clients)

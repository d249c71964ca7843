"""Throughput of the shared LLM runtime against the local fake server with a fixed latency per request.

At concurrency C and latency L the physical limit is C/L requests/s; we report achieved/limit (target
>= 0.9) and the runner's own CPU time per request. The server runs in a separate process (asyncio, no
third-party dependency) so its CPU is not charged to the runner. The client is the real ``openai`` SDK
through the ``openai`` backend, with the runtime's limiter, retry wrapper and accounting in the path.

    .venv/bin/python benchmarks/llm_throughput.py [--requests 2000] [--latency 0.5] [--concurrency 64 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/llm/fakeserver.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/v1"


class SleepBackend:
    """In-process backend that only sleeps L: measures the runtime alone (no HTTP, no SDK)."""

    def __new__(cls, latency: float):  # noqa: D102 - built lazily so the import stays in main()
        from dualalign_core.llm.backend import LLMBackend
        from dualalign_core.llm.types import LLMResponse

        class _Sleep(LLMBackend):
            provider = "sleep"

            async def complete(self, request):  # noqa: ANN001, ANN202
                await asyncio.sleep(latency)
                return LLMResponse(text="ok", input_tokens=10, output_tokens=5, finish_reason="stop")

        return _Sleep(model="gpt-4o")


async def run_one(
    base_url: str, concurrency: int, n: int, client: str = "sdk", latency: float = 0.5
) -> dict[str, float]:
    from dualalign_openai import OpenAIBackend

    from dualalign_core.llm.runtime import LLMRuntime
    from dualalign_core.llm.types import LLMRequest, Message

    if client == "sdk":
        backend = OpenAIBackend(model="gpt-4o", base_url=base_url, timeout=30.0)
    else:
        backend = SleepBackend(latency)
    backend.concurrency = concurrency
    runtime = LLMRuntime(backend)
    requests = [
        LLMRequest(model="gpt-4o", messages=[Message("user", f"note {i}")], max_tokens=64, seed=i) for i in range(n)
    ]
    # warm the connection pool (not timed)
    await asyncio.gather(*(runtime.complete(r) for r in requests[:concurrency]))
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = await asyncio.gather(*(runtime.complete(r) for r in requests))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await runtime.aclose()
    assert len(results) == n and all(r.response.text for r in results)
    return {
        "wall_s": wall,
        "rps": n / wall,
        "cpu_ms_per_request": 1000 * cpu / n,
        "requests_sent": runtime.counters.requests - concurrency,
        "retries": runtime.counters.retries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--client",
        nargs="+",
        choices=["sdk", "runtime-only"],
        default=["sdk", "runtime-only"],
        help="sdk: openai SDK over HTTP to the fake server; runtime-only: in-process sleep backend",
    )
    args = parser.parse_args()
    proc, url = start_server(args.latency)
    rows = []
    try:
        for client in args.client:
            for c in args.concurrency:
                r = asyncio.run(run_one(url, c, args.requests, client, args.latency))
                limit = c / args.latency
                rows.append(
                    {
                        "client": client,
                        "concurrency": c,
                        "latency_s": args.latency,
                        "requests": args.requests,
                        "limit_rps": limit,
                        "achieved_rps": round(r["rps"], 1),
                        "ratio": round(r["rps"] / limit, 3),
                        "wall_s": round(r["wall_s"], 2),
                        "cpu_ms_per_request": round(r["cpu_ms_per_request"], 3),
                        "retries": r["retries"],
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.terminate()
        proc.wait(5)
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}")


if __name__ == "__main__":
    main()

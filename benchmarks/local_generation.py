"""Batched vs one-at-a-time generation with the ``local`` backend (default: bundled SmolLM2-135M, CPU).

Same prompts, same seeds, same token budget; prints tokens/s of each way and their ratio, measured in one run.

    python benchmarks/local_generation.py [--prompts 8] [--max-tokens 48] [--model-path DIR_OR_GGUF] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dualalign_local.backend import LocalBackend  # noqa: E402

from dualalign_core.llm.types import LLMRequest, Message  # noqa: E402

TOPICS = [
    "memory loss",
    "word-finding pauses",
    "getting lost while driving",
    "missed medications",
    "irritability",
    "trouble paying bills",
    "repeating questions",
    "poor sleep",
    "weight loss",
    "apathy",
    "misplacing keys",
    "falls at home",
]


def requests(n: int, max_tokens: int, model: str) -> list[LLMRequest]:
    return [
        LLMRequest(
            model=model,
            max_tokens=max_tokens,
            temperature=0.7,
            seed=1000 + i,
            messages=[
                Message("system", "You are a clinician writing brief chart notes."),
                Message("user", f"Write a short SOAP note for a 74-year-old seen for {TOPICS[i % len(TOPICS)]}."),
            ],
        )
        for i in range(n)
    ]


def timed(backend: LocalBackend, reqs: list[LLMRequest], batch_size: int) -> tuple[float, int, int]:
    backend.batch_size = batch_size
    started = time.perf_counter()
    out = backend.complete_many(reqs)
    seconds = time.perf_counter() - started
    return seconds, sum(r.output_tokens for r in out), sum(r.finish_reason == "stop" for r in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--model-path")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    options = {"device": args.device, **({"model_path": args.model_path} if args.model_path else {})}
    backend = LocalBackend(**options)
    load_started = time.perf_counter()
    backend.loaded()
    load_s = time.perf_counter() - load_started
    reqs = requests(args.prompts, args.max_tokens, backend.model_name)
    backend.complete_many(reqs[:1])  # warm-up
    single_s, single_tok, single_stop = timed(backend, reqs, 1)
    batch_s, batch_tok, batch_stop = timed(backend, reqs, args.prompts)
    result = {
        "model": backend.model_name,
        "device": args.device,
        "prompts": args.prompts,
        "max_tokens": args.max_tokens,
        "load_s": round(load_s, 1),
        "single": {
            "seconds": round(single_s, 2),
            "tokens": single_tok,
            "tokens_per_s": round(single_tok / single_s, 2),
            "ended_by_model": single_stop,
        },
        "batched": {
            "seconds": round(batch_s, 2),
            "tokens": batch_tok,
            "tokens_per_s": round(batch_tok / batch_s, 2),
            "ended_by_model": batch_stop,
        },
    }
    result["speedup"] = round(result["batched"]["tokens_per_s"] / result["single"]["tokens_per_s"], 2)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['model']} on {args.device}: {args.prompts} prompts x {args.max_tokens} max new tokens "
        f"(load {result['load_s']} s)"
    )
    for way in ("single", "batched"):
        r = result[way]
        print(f"  {way:8s} {r['tokens']:5d} tokens in {r['seconds']:7.2f} s  = {r['tokens_per_s']:7.2f} tokens/s")
    print(f"  batched / one-at-a-time: {result['speedup']:.2f}x")


if __name__ == "__main__":
    main()

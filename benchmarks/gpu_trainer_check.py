"""GPU check of the LoRA trainer itself (not a benchmark model): CUDA device, bf16 autocast, head round trip.

Trains a small random LLaMA (word-level tokenizer, built offline) on both tasks with the plugin's
``LoraTrainer`` on whatever device ``auto`` picks, then saves, reloads and compares predictions.

    python benchmarks/gpu_trainer_check.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dualalign_llama.trainer import LoraTrainer  # noqa: E402
from llama_fixtures import SYMPTOMS, labelled_sentences, make_tiny_llama  # noqa: E402

from dualalign_core.training.data import split_units, task_view  # noqa: E402

LABELS = list(SYMPTOMS)[-1:] + list(SYMPTOMS)[:-1]


def main() -> None:
    import torch

    print(
        f"torch {torch.__version__}, cuda {torch.cuda.is_available()}"
        + (
            f", {torch.cuda.get_device_name()} bf16={torch.cuda.is_bf16_supported()}"
            if torch.cuda.is_available()
            else ""
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        tiny = make_tiny_llama(Path(tmp) / "llama", [e.text for e in labelled_sentences()])
        for task in ("binary", "multiclass"):
            train, valid, test = split_units(labelled_sentences(48), (0.6, 0.2, 0.2), 0)
            train, labels = task_view(train, LABELS, task)
            valid, _ = task_view(valid, LABELS, task)
            trainer = LoraTrainer(
                model=str(tiny), lr=5e-3, batch_size=16, micro_batch_size=8, epochs=4, patience=4, lora_r=8
            )
            t = time.perf_counter()
            summary = trainer.train(train, valid, labels, Path(tmp) / f"model-{task}")
            elapsed = time.perf_counter() - t
            losses = [h["loss"] for h in summary["history"]]
            texts = [e.text for e in test]
            reloaded = LoraTrainer.load(Path(tmp) / f"model-{task}")
            same = np.array_equal(trainer.classifier.logits(texts), reloaded.logits(texts))
            print(
                f"{task}: device={summary['device']} bf16={summary['bf16']} steps={summary['steps']} "
                f"loss {np.mean(losses[:3]):.3f} -> {np.mean(losses[-3:]):.3f} "
                f"best valid macro-F1 {summary['best_valid_macro_f1']:.3f} in {elapsed:.1f}s; "
                f"reload identical logits: {same}"
            )
            assert same and np.mean(losses[-3:]) < np.mean(losses[:3])


if __name__ == "__main__":
    main()

"""The ``lora`` trainer: options (the paper's defaults), train and load. Torch loads only when used."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from attrs import frozen

from dualalign_core.components import Classifier, Example, Trainer


@frozen
class LoraSettings:
    """Training settings; defaults follow the paper (LR 2e-5, batch 64, 3 epochs, early stopping)."""

    model: str
    lr: float = 2e-5
    batch_size: int = 64  # effective batch: micro_batch_size x gradient-accumulation steps
    micro_batch_size: int = 8
    epochs: int = 3
    patience: int = 1  # evaluations without a better validation macro-F1 before stopping
    eval_every: int = 0  # optimizer steps between validations; 0 = once per epoch
    max_steps: int = 0  # 0 = no limit (optimizer steps)
    max_length: int = 256
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture
    class_weights: bool = True
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    bf16: str = "auto"  # auto (bf16 on GPUs that have it) | on | off
    device: str = "auto"
    seed: int = 0
    log_every: int = 1


OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["model"],
    "properties": {
        "model": {"type": "string", "description": "checkpoint directory or hub id"},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "batch_size": {"type": "integer", "minimum": 1},
        "micro_batch_size": {"type": "integer", "minimum": 1},
        "epochs": {"type": "integer", "minimum": 1},
        "patience": {"type": "integer", "minimum": 1},
        "eval_every": {"type": "integer", "minimum": 0},
        "max_steps": {"type": "integer", "minimum": 0},
        "max_length": {"type": "integer", "minimum": 8},
        "lora_r": {"type": "integer", "minimum": 1},
        "lora_alpha": {"type": "integer", "minimum": 1},
        "lora_dropout": {"type": "number", "minimum": 0, "maximum": 1},
        "target_modules": {"type": ["array", "null"], "items": {"type": "string"}},
        "class_weights": {"type": "boolean"},
        "weight_decay": {"type": "number", "minimum": 0},
        "warmup_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "bf16": {"enum": ["auto", "on", "off"]},
        "device": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "log_every": {"type": "integer", "minimum": 1},
    },
}


class LoraTrainer(Trainer):
    """LoRA (``TaskType.SEQ_CLS``) fine-tuning; the classification head is saved with the adapter."""

    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if options.get("target_modules") is not None:
            options = {**options, "target_modules": tuple(options["target_modules"])}
        self.settings = LoraSettings(**options)
        self.classifier: Classifier | None = None  # the in-memory model after ``train``

    @property
    def model(self) -> str | None:
        return self.settings.model

    def train(self, train: Sequence[Example], valid: Sequence[Example], labels: Sequence[str],
              out_dir: str | Path) -> dict[str, Any]:
        from dualalign_llama.loop import fit

        summary, self.classifier = fit(self.settings, train, valid, list(labels), Path(out_dir))
        return summary

    @classmethod
    def load(cls, model_dir: str | Path) -> Classifier:
        from dualalign_llama.model import LoraClassifier

        return LoraClassifier.load(Path(model_dir))

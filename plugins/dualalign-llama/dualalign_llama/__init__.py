"""LoRA sequence-classification trainer for LLaMA-family checkpoints (torch is imported only to train)."""

from dualalign_core import hookimpl
from dualalign_llama.trainer import LoraTrainer


@hookimpl
def register_trainers(register):
    register("lora", LoraTrainer)

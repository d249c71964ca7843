"""The training loop: gradient accumulation to the effective batch, class- and example-weighted loss, linear
warmup and decay, early stopping on validation macro-F1 (the best weights are restored before saving), and a
loud warning when the loss has not fallen in the first epoch."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dualalign_core.api import Example, scores
from dualalign_llama import model as M
from dualalign_llama.batching import collate, length_grouped_batches
from dualalign_llama.settings import LoraSettings


def class_weights(y: np.ndarray, n_labels: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over the labels present); absent labels get 0."""
    counts = np.bincount(y, minlength=n_labels).astype(float)
    w = np.divide(len(y), n_labels * counts, out=np.zeros_like(counts), where=counts > 0)
    present = counts > 0
    w[present] /= w[present].mean()
    return torch.tensor(w, dtype=torch.float32)


def distributed(device_name: str) -> tuple[int, int, torch.device] | None:
    """(rank, world size, device) when launched by ``torchrun`` with more than one process, else None.

    NCCL on CUDA (one GPU per local rank), gloo on CPU; every rank sees the same data and seeds.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and device_name in ("auto", "cuda"):
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device


def shard(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This rank's batches: every ``world``-th, the same count on every rank (DDP steps in lockstep)."""
    if len(batches) < world:
        batches = batches * math.ceil(world / len(batches))
    usable = len(batches) // world * world
    return batches[rank:usable:world]


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def plan_epochs(s: LoraSettings, steps_per_epoch: int) -> int:
    """``epochs``, raised on small data until ``min_steps`` optimizer steps run (at most ``max_epochs``)."""
    wanted = math.ceil(s.min_steps / max(1, steps_per_epoch)) if s.min_steps else 0
    return max(s.epochs, min(s.max_epochs, wanted))


def stalled(losses: Sequence[float], ratio: float, early: float | None = None) -> tuple[float, float] | None:
    """(early, late) mean micro-batch loss of the first epoch when late > ratio x early, else None.

    Early and late are the first and last fifth (at least one micro-batch each); ``early`` given (the loss
    before a linear probe fitted the head) replaces the first fifth: fine-tuning then starts from a head
    that already fits, and a flat first epoch is not a model that does not learn."""
    if len(losses) < 2:
        return None
    k = max(1, len(losses) // 5)
    start = float(np.mean(losses[:k])) if early is None else early
    late = float(np.mean(losses[-k:]))
    return (start, late) if late > ratio * start else None


def head_names(model: Any, fresh: Sequence[str]) -> set[str]:
    """Parameters of the freshly initialised modules (the classification head)."""
    out = set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if ".modules_to_save." in name or any(name.startswith(f"{m}.") or f".{m}." in name for m in fresh):
            out.add(name)
    return out


def probe(
    model: Any,
    ids: Sequence[Sequence[int]],
    y: np.ndarray,
    example_weight: np.ndarray,
    loss_fn: Any,
    s: LoraSettings,
    tokenizer: Any,
    device: torch.device,
    bf16: bool,
) -> dict[str, Any] | None:
    """Linear probing before fine-tuning (LP-FT): the head alone learns on the frozen encoder's pooled
    features (computed once), so fine-tuning starts from a head that already fits and moves the encoder less
    (Kumar et al. 2022: fine-tuning with a fresh head distorts pretrained features and transfers worse).
    Mean-pooled classifiers only; ``probe_steps`` = 0 skips it."""
    if not isinstance(model, M.MeanPooled) or not s.probe_steps or not len(y):
        return None
    t0 = time.perf_counter()
    model.eval()
    feats = torch.empty(len(ids), model.score.in_features)
    with torch.no_grad():
        for batch in length_grouped_batches([len(x) for x in ids], 64, np.random.default_rng(s.seed)):
            inputs = collate([ids[j] for j in batch], tokenizer.pad_token_id, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                feats[batch] = model.pooled(inputs["input_ids"], inputs["attention_mask"]).float().cpu()
    feats = feats.to(device)
    target = torch.tensor(y, device=device)
    w_all = torch.tensor(example_weight, device=device)
    opt = torch.optim.AdamW(model.score.parameters(), lr=s.probe_lr, weight_decay=s.weight_decay)
    gen = torch.Generator().manual_seed(s.seed)
    losses = []
    for _ in range(s.probe_steps):
        pick = torch.randint(0, len(y), (min(64, len(y)),), generator=gen).to(device)
        loss = loss_fn(model.score(feats[pick]), target[pick], w_all[pick])  # the fine-tuning's own loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.train()
    k = max(1, len(losses) // 10)
    return {
        "steps": s.probe_steps,
        "loss_first": round(float(np.mean(losses[:k])), 5),
        "loss_last": round(float(np.mean(losses[-k:])), 5),
        "seconds": round(time.perf_counter() - t0, 2),
    }


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def fit(
    s: LoraSettings, train: Sequence[Example], valid: Sequence[Example], labels: list[str], out_dir: Path
) -> tuple[dict[str, Any], M.SavedClassifier]:
    """Train, early-stop, restore the best state, save (adapter + head, or the whole model) + tokenizer.

    Returns the history and the trained (in-memory) classifier.
    """
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    ddp = distributed(s.device)
    rank, world = (ddp[0], ddp[1]) if ddp else (0, 1)
    device = ddp[2] if ddp else M.pick_device(s.device)
    bf16 = M.use_bf16(s.bf16, device)
    tokenizer = M.load_tokenizer(s.model)
    full = s.method == "full"
    pooling = M.pooling_of(s.model, s.pooling)
    base, fresh = M.load_base(
        s.model, labels, tokenizer.pad_token_id, torch.bfloat16 if bf16 and not full else torch.float32, pooling
    )
    if full:
        model = base
    else:
        model = M.wrap_lora(
            base, fresh, r=s.lora_r, alpha=s.lora_alpha, dropout=s.lora_dropout, target_modules=s.target_modules
        )
    for p in model.parameters():  # trainable weights in fp32 even when the frozen base is bf16
        if p.requires_grad:
            p.data = p.data.float()
    model.to(device)
    step_model = model  # what the loss goes through: the DDP wrapper across processes, else the model itself
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        step_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    index = {lb: i for i, lb in enumerate(labels)}
    ids = [tokenizer(e.text, truncation=True, max_length=s.max_length)["input_ids"] for e in train]
    y = np.array([index[e.label] for e in train])
    weight = class_weights(y, len(labels)).to(device) if s.class_weights else torch.ones(len(labels), device=device)
    example_weight = np.array([e.weight for e in train], dtype=np.float32)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Cross-entropy weighted by class and example, normalised by the weights (as torch's ``weight``)."""
        w = weight[target] * w
        per = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        return (per * w).sum() / w.sum().clamp_min(1e-8)

    probed = probe(model, ids, y, example_weight, loss_fn, s, tokenizer, device, bf16)
    micro = min(s.micro_batch_size, s.batch_size)
    accum = max(1, math.ceil(s.batch_size / (micro * world)))  # effective batch = micro x accum x world
    micro_batches = math.ceil(len(train) / micro)
    per_rank = max(1, micro_batches // world) if world > 1 else micro_batches  # as shard() cuts them
    steps_per_epoch = math.ceil(per_rank / accum)
    epochs = plan_epochs(s, steps_per_epoch)
    total = steps_per_epoch * epochs if not s.max_steps else min(s.max_steps, steps_per_epoch * epochs)
    heads = head_names(model, fresh)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    groups = [
        {"params": [p for n, p in named if n not in heads], "lr": s.lr},
        {"params": [p for n, p in named if n in heads], "lr": s.head_lr or s.lr},
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=s.weight_decay)
    warmup = int(s.warmup_ratio * total)
    sched = get_linear_schedule_with_warmup(opt, warmup, total)

    history: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    best, best_loss, best_state, bad, step, tokens = -1.0, math.inf, None, 0, 0, 0
    first_epoch: list[float] = []  # micro-batch losses of the first epoch(s), for the stall check
    checked = False
    notes: list[str] = []
    t0 = time.perf_counter()

    def validate() -> bool:
        """Score the validation set; keep the best state; True when patience ran out."""
        nonlocal best, best_loss, best_state, bad
        if not valid:
            return False
        logits = M.predict_logits(
            model,
            tokenizer,
            [e.text for e in valid],
            max_length=s.max_length,
            batch_size=micro * 2,
            device=device,
            bf16=bf16,
        )
        pred = [labels[i] for i in logits.argmax(axis=1)]
        f1 = scores([e.label for e in valid], pred, labels)["macro_f1"]
        target = np.array([index[e.label] for e in valid])
        shifted = logits - logits.max(axis=1, keepdims=True)
        vloss = float(np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(valid)), target]))
        evals.append({"step": step, "valid_macro_f1": round(f1, 4), "valid_loss": round(vloss, 4)})
        model.train()
        # better: a higher macro-F1, or the same one at a lower loss (a plateau at the majority class still counts
        # as progress while the loss falls, so patience does not stop a model that is about to separate)
        if f1 > best + 1e-9 or (abs(f1 - best) <= 1e-9 and vloss < best_loss):
            best, best_loss, best_state, bad = f1, vloss, trainable_state(model), 0
            return False
        bad += 1
        return bad >= s.patience

    stop = False
    for epoch in range(epochs):
        model.train()
        batches = length_grouped_batches([len(x) for x in ids], micro, rng)
        if ddp:
            batches = shard(batches, rank, world)
        running, seen = 0.0, 0
        for i, batch in enumerate(batches):
            inputs = collate([ids[j] for j in batch], tokenizer.pad_token_id, device)
            target = torch.tensor(y[batch], device=device)
            w = torch.tensor(example_weight[batch], device=device)
            stepping = (i + 1) % accum == 0 or i + 1 == len(batches)
            sync = step_model.no_sync() if ddp and not stepping else contextlib.nullcontext()
            with sync:  # DDP all-reduces gradients only on the micro-batch that steps
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    logits = step_model(**inputs).logits
                loss = loss_fn(logits.float(), target, w)
                (loss / accum).backward()
            if not checked:
                first_epoch.append(loss.item())
            running += loss.item() * len(batch)
            seen += len(batch)
            tokens += int(inputs["attention_mask"].sum())
            if not stepping:
                continue
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % s.log_every == 0 or step == total:
                history.append({"step": step, "epoch": epoch + 1, "loss": round(running / seen, 5)})
            running, seen = 0.0, 0
            if s.eval_every and step % s.eval_every == 0:
                stop = validate()
            if stop or step >= total:
                break
        if not checked and (step >= 2 * warmup or epoch + 1 == epochs or stop or step >= total):
            checked = True  # the first epoch, or the first ones until the warmup is well over (small data)
            if flat := stalled(first_epoch, s.stall_ratio, probed["loss_first"] if probed else None):
                notes.append(
                    f"training loss has not fallen in the first {epoch + 1} epoch(s) ({flat[0]:.4f} -> "
                    f"{flat[1]:.4f}, lr {s.lr}, method {s.method}): the model is probably not learning; "
                    "raise lr or check the labels"
                )
                warn(notes[-1])
        if not stop and not s.eval_every:
            stop = validate()
        if stop or step >= total:
            break
    if best_state is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in best_state:
                    p.copy_(best_state[name])
    seconds = time.perf_counter() - t0
    meta = {
        "base_model": M.base_name(s.model),
        "method": s.method,
        "labels": labels,
        "max_length": s.max_length,
        "pooling": pooling,
        "bf16": "on" if bf16 else "off",
        "modules_to_save": fresh,
        "settings": {k: v for k, v in _settings(s).items() if k != "model"},
    }
    if rank == 0:
        M.save(model, tokenizer, out_dir, meta)
    if ddp:
        import torch.distributed as dist

        dist.barrier()  # every rank returns once the adapter is on disk
    trainable = sum(p.numel() for p in params)
    summary = {
        "method": s.method,
        "pooling": pooling,
        "probe": probed,
        "epochs_planned": epochs,
        "warnings": notes,
        "steps": step,
        "epochs_run": history[-1]["epoch"] if history else 0,
        "history": history,
        "evals": evals,
        "best_valid_macro_f1": round(best, 4) if best >= 0 else None,
        "early_stopped": stop,
        "device": str(device),
        "bf16": bf16,
        "accumulation": accum,
        "world_size": world,
        "trainable_parameters": trainable,
        "train_seconds": round(seconds, 2),
        "tokens_per_s": round(tokens * world / seconds, 1) if seconds else None,
    }
    return summary, M.SavedClassifier(model, tokenizer, meta, device, bf16)


def _settings(s: LoraSettings) -> dict[str, Any]:
    import attrs

    return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(s).items()}

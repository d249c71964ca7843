"""LoRA fine-tuning throughput of a randomly initialised ~1B-parameter LLaMA (LLaMA-3.2-1B shape) in bf16.

Sequence classification with the plugin's setup (LoRA r=16 on q/v, head in ``modules_to_save``, fp32
trainable weights, bf16 autocast). Prints tokens/s, model FLOPs utilisation against the GPU's dense bf16 peak
and peak memory. Falls back to a pure-torch LLaMA + LoRA when transformers/peft are missing.

    python benchmarks/gpu_lora_1b.py            # on a GPU
    python benchmarks/gpu_lora_1b.py --tiny     # CPU smoke test of the script itself

FLOPs: with the base frozen, backward needs activation gradients only (no weight gradients), so a linear
layer costs 2N (forward) + 2N (backward) per token instead of the usual 6N; attention score/value matmuls
cost 4·L·s·d forward and twice that backward. MFU is reported both ways (LoRA-exact and 6N convention).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def shape(tiny: bool) -> dict[str, int]:
    if tiny:
        return dict(vocab=1000, hidden=64, inter=128, layers=2, heads=4, kv_heads=2)
    return dict(vocab=128256, hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8)


def hf_model(c: dict[str, int], r: int) -> nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import LlamaConfig, LlamaForSequenceClassification

    config = LlamaConfig(
        vocab_size=c["vocab"],
        hidden_size=c["hidden"],
        intermediate_size=c["inter"],
        num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"],
        num_key_value_heads=c["kv_heads"],
        max_position_embeddings=4096,
        num_labels=6,
        pad_token_id=0,
        tie_word_embeddings=False,
        attn_implementation="sdpa",
    )
    model = LlamaForSequenceClassification(config).to(torch.bfloat16)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=r,
        lora_alpha=2 * r,
        lora_dropout=0.05,
        target_modules=["q_proj", "v_proj"],
        modules_to_save=["score"],
    )
    return get_peft_model(model, lora)


# -- pure-torch fallback ---------------------------------------------------------------------------
class LoraLinear(nn.Module):
    def __init__(self, d_in: int, d_out: int, r: int):
        super().__init__()
        self.base = nn.Linear(d_in, d_out, bias=False)
        self.base.weight.requires_grad_(False)
        self.a = nn.Parameter(torch.randn(r, d_in) / math.sqrt(d_in))
        self.b = nn.Parameter(torch.zeros(d_out, r))
        self.scale = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scale


class Block(nn.Module):
    def __init__(self, c: dict[str, int], r: int):
        super().__init__()
        d, h, kv = c["hidden"], c["heads"], c["kv_heads"]
        self.h, self.kv, self.hd = h, kv, d // h
        self.q, self.v = LoraLinear(d, d, r), LoraLinear(d, kv * self.hd, r)
        self.k, self.o = nn.Linear(d, kv * self.hd, bias=False), nn.Linear(d, d, bias=False)
        self.gate, self.up = nn.Linear(d, c["inter"], bias=False), nn.Linear(d, c["inter"], bias=False)
        self.down = nn.Linear(c["inter"], d, bias=False)
        self.n1, self.n2 = nn.RMSNorm(d), nn.RMSNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        y = self.n1(x)
        q = self.q(y).view(b, s, self.h, self.hd).transpose(1, 2)
        k = self.k(y).view(b, s, self.kv, self.hd).transpose(1, 2)
        v = self.v(y).view(b, s, self.kv, self.hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, s, d))
        y = self.n2(x)
        return x + self.down(F.silu(self.gate(y)) * self.up(y))


class TorchLlamaCls(nn.Module):
    def __init__(self, c: dict[str, int], r: int, labels: int = 6):
        super().__init__()
        self.embed = nn.Embedding(c["vocab"], c["hidden"])
        self.blocks = nn.ModuleList(Block(c, r) for _ in range(c["layers"]))
        self.norm = nn.RMSNorm(c["hidden"])
        self.score = nn.Linear(c["hidden"], labels, bias=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids)
        for blk in self.blocks:
            x = blk(x)
        return self.score(self.norm(x)[:, -1])


def torch_model(c: dict[str, int], r: int) -> nn.Module:
    model = TorchLlamaCls(c, r).to(torch.bfloat16)
    for name, p in model.named_parameters():
        p.requires_grad_(".a" in name[-2:] or ".b" in name[-2:] or name.startswith("score"))
    return model


# -- measurement -----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="tiny config (CPU smoke test)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--backend", choices=["auto", "hf", "torch"], default="auto")
    args = ap.parse_args()
    if args.tiny:
        args.steps, args.warmup, args.batch, args.seq = 3, 1, 2, 32
    c = shape(args.tiny)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    backend = args.backend
    if backend == "auto":
        try:
            import peft  # noqa: F401
            import transformers  # noqa: F401

            backend = "hf"
        except ImportError:
            backend = "torch"
    t_build = time.perf_counter()
    with torch.device(dev):  # initialise on the device: 1B random weights on CPU take a while
        model = (hf_model if backend == "hf" else torch_model)(c, args.rank)
    for p in model.parameters():  # trainable weights in fp32 (as the plugin does)
        if p.requires_grad:
            p.data = p.data.float()
    model.to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    total = sum(p.numel() for p in model.parameters())
    embed = c["vocab"] * c["hidden"]
    n_linear = total - embed - sum(p.numel() for p in params)  # frozen matmul weights
    opt = torch.optim.AdamW(params, lr=2e-5)
    ids = torch.randint(1, c["vocab"], (args.batch, args.seq), device=dev)
    labels = torch.randint(0, 6, (args.batch,), device=dev)

    def step() -> float:
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            out = model(input_ids=ids)
            logits = out.logits if hasattr(out, "logits") else out
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    tokens = args.batch * args.seq * args.steps
    tps = tokens / dt
    attn = 4 * c["layers"] * args.seq * c["hidden"]  # per token, forward (QK^T and AV)
    flops_lora = 4 * n_linear + 3 * attn
    flops_6n = 6 * n_linear + 3 * attn
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
    print(
        f"device: {name}  torch {torch.__version__}  backend: {backend}  (model built in "
        f"{t0 - t_build:.1f} s incl. warm-up)"
    )
    print(
        f"model: {total / 1e9:.3f} B parameters ({n_linear / 1e9:.3f} B in frozen matmuls), "
        f"trainable {sum(p.numel() for p in params) / 1e6:.2f} M (LoRA r={args.rank} q/v + head)"
    )
    print(f"batch {args.batch} x seq {args.seq}, {args.steps} timed steps after {args.warmup} warm-up")
    print(f"loss first/last: {losses[0]:.4f} / {losses[-1]:.4f}")
    print(f"step time: {dt / args.steps * 1e3:.1f} ms   tokens/s: {tps:,.0f}")
    if peak:
        print(f"MFU (LoRA-exact 4N+attn FLOPs/token): {flops_lora * tps / peak:.1%} of {peak / 1e12:.0f} TFLOPS bf16")
        print(f"MFU (6N convention):                   {flops_6n * tps / peak:.1%}")
        print(f"achieved: {flops_lora * tps / 1e12:.1f} TFLOPS (LoRA-exact)")
    if dev.type == "cuda":
        print(
            f"peak memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated, "
            f"{torch.cuda.max_memory_reserved() / 2**30:.2f} GiB reserved"
        )


if __name__ == "__main__":
    main()

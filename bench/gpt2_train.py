#!/usr/bin/env python3
"""gpt2_train.py --knlp BUILD/knlp --out FILE.json - GPT-2 training speed, knlp vs PyTorch.

Trains the same GPT-2 (by default the quick start's: 6 layers, 6 heads, 384
wide, block 256, vocabulary 50304, tied, dropout 0) with the same loop - random
windows, AdamW with decay groups, clipping at 1.0 - once with `knlp run` and
once in eager PyTorch from this venv (nanoGPT's model.py written out), on the
same threads, batch and block size, on random token data. Before timing, both
must start at the loss of a uniform guess, ln V. Writes one JSON file: tokens/s
of each (median over the timed steps), their ratio, the matrix-multiply peak
measured here, and each one's MFU against it. A benchmark, never a test.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Block(nn.Module):
    def __init__(self, c, h, p):
        super().__init__()
        self.h, self.p = h, p
        self.ln_1, self.ln_2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.c_fc, self.mlp_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, 2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0,
                                           is_causal=True)
        x = x + F.dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)), self.p, self.training)
        return x + F.dropout(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)))), self.p, self.training)


class GPT(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(a.vocab, a.embd), nn.Embedding(a.block, a.embd)
        self.h = nn.ModuleList(Block(a.embd, a.heads, a.dropout) for _ in range(a.layers))
        self.ln_f, self.p = nn.LayerNorm(a.embd), a.dropout
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        for n, p in self.named_parameters():
            if n.endswith(("c_proj.weight", "mlp_proj.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * a.layers))

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1])
        x = F.dropout(self.wte(idx) + self.wpe(pos), self.p, self.training)
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def python_steps(a, train_bin):
    """Seconds per step (after warmup) and the first loss of the PyTorch loop."""
    torch.manual_seed(0)
    model = GPT(a)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=6e-4)
    data = np.memmap(train_bin, dtype=np.uint16, mode="r")
    times, first = [], None
    for step in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for _ in range(a.accum):
            ix = torch.randint(len(data) - a.block, (a.batch,))
            x = torch.stack([torch.from_numpy(data[i:i + a.block].astype(np.int64)) for i in ix])
            y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + a.block].astype(np.int64)) for i in ix])
            loss = model(x, y)
            (loss / a.accum).backward()
            first = first if first is not None else loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return times, first, n


def knlp_steps(a, tmp):
    """Seconds per step (after warmup) and the first loss of `knlp run`."""
    defconfig = os.path.join(tmp, "defconfig")
    with open(defconfig, "w") as f:
        f.write(f"""CONFIG_MODEL_SELECT_GPT2=y
CONFIG_GPT2_MODEL_CUSTOM=y
CONFIG_GPT2_N_LAYER={a.layers}
CONFIG_GPT2_N_HEAD={a.heads}
CONFIG_GPT2_N_EMBD={a.embd}
CONFIG_GPT2_BLOCK_SIZE={a.block}
CONFIG_GPT2_VOCAB_SIZE={a.vocab}
CONFIG_GPT2_DROPOUT="{a.dropout}"
CONFIG_GPT2_DATASET_CUSTOM=y
CONFIG_GPT2_CUSTOM_DATASET_PATH="{tmp}/data"
CONFIG_GPT2_MAX_ITERS={a.warmup + a.iters}
CONFIG_GPT2_GRADIENT_ACCUMULATION={a.accum}
CONFIG_GPT2_EVAL_INTERVAL=1000000
CONFIG_GPT2_EVAL_SAMPLES=1
CONFIG_GPT2_LOG_INTERVAL=1
CONFIG_BATCH_SIZE={a.batch}
CONFIG_LEARNING_RATE="6e-4"
CONFIG_ADAMW_WEIGHT_DECAY="0.1"
CONFIG_DEVICE="cpu"
CONFIG_TRAIN_THREADS={a.threads}
CONFIG_CHECKPOINT_INTERVAL=0
CONFIG_OUTPUT_DIR="{tmp}/results"
""")
    cfg = os.path.join(tmp, ".config")
    subprocess.run([sys.executable, "scripts/kconfig.py", "defconfig", defconfig], cwd=SRC,
                   env=dict(os.environ, KCONFIG_CONFIG=cfg), check=True, stdout=subprocess.DEVNULL)
    run = os.path.join(tmp, "run")
    subprocess.run([a.knlp, "run", "--config", cfg, "--run-dir", run, "--quiet", "--no-plot"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(run, "metrics.json")) as f:
        m = json.load(f)
    tokens = a.batch * a.accum * a.block
    times = [tokens / p["tokens_per_s"] for p in m["train"][a.warmup:]]
    return times, m["train"][0]["loss"], m["lm"]["flops_per_token"], m["config_hash"]


def matmul_peak(threads):
    """FLOP/s of a 1024^3 fp32 matrix multiply here, as knlp measures it."""
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(5):
        a @ b
    return 2 * 1024 ** 3 * 5 / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--knlp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--embd", type=int, default=384)
    p.add_argument("--block", type=int, default=256)
    p.add_argument("--vocab", type=int, default=50304)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data"))
        rng = np.random.default_rng(0)
        for split, n in (("train", 1_000_000), ("val", 10_000)):
            rng.integers(0, 50257, n, dtype=np.uint16).tofile(os.path.join(tmp, "data", split + ".bin"))
        k_times, k_first, flops_per_token, config_hash = knlp_steps(a, tmp)
        p_times, p_first, n_params = python_steps(a, os.path.join(tmp, "data", "train.bin"))
    # Both start from a uniform guess over V: ln V, within init noise.
    for name, first in (("knlp", k_first), ("python", p_first)):
        if abs(first - math.log(a.vocab)) > 0.1:
            sys.exit(f"{name}: first loss {first:.3f} is not ln V = {math.log(a.vocab):.3f}")
    peak = matmul_peak(a.threads)
    tokens = a.batch * a.accum * a.block
    py_flops = 6 * n_params + 12 * a.layers * a.embd * a.block

    def summary(times, flops):
        tok_s = tokens / statistics.median(times)
        return {"tokens_per_s": tok_s, "median_ms": 1e3 * statistics.median(times),
                "min_ms": 1e3 * min(times), "mfu": flops * tok_s / peak}

    k, py = summary(k_times, flops_per_token), summary(p_times, py_flops)
    commit = subprocess.run(["git", "-C", SRC, "describe", "--always", "--dirty", "--abbrev=12"],
                            capture_output=True, text=True).stdout.strip()
    out = {"benchmark": "gpt2_train", "device": f"cpu ({os.cpu_count()} cores)", "commit": commit,
           "config_hash": config_hash, "torch": torch.__version__, "threads": a.threads,
           "shape": {"n_layer": a.layers, "n_head": a.heads, "n_embd": a.embd, "block_size": a.block,
                     "vocab_size": a.vocab, "batch_size": a.batch, "gradient_accumulation": a.accum,
                     "dropout": a.dropout, "tokens_per_step": tokens},
           "timed_steps": a.iters, "peak_flops": peak, "flops_per_token": flops_per_token,
           "knlp": k, "python": py, "ratio_knlp_over_python": k["tokens_per_s"] / py["tokens_per_s"]}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"gpt2_train: knlp {k['tokens_per_s']:.0f} tok/s (MFU {100 * k['mfu']:.1f}%), "
          f"python {py['tokens_per_s']:.0f} tok/s (MFU {100 * py['mfu']:.1f}%), "
          f"ratio {out['ratio_knlp_over_python']:.2f} -> {a.out}")


if __name__ == "__main__":
    main()

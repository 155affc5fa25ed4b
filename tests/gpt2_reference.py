#!/usr/bin/env python3
"""gpt2_reference.py WEIGHTS IDS LOGITS - check knlp's GPT-2 against an independent one.

Builds GPT-2 from WEIGHTS (safetensors, Hugging Face names: wte, wpe, h.N.ln_1,
h.N.attn.c_attn, ... with the block's linear weights stored (in, out) as HF's
Conv1D) in plain PyTorch, written from the math (no nn.Module, no SDPA, float64),
computes the logits of IDS (comma-separated token ids) and compares them with
LOGITS, the tensor "logits" (1, T, V) that `knlp logits` wrote. Prints the max
difference and "overall okay: 0|1"; the exit status follows the verdict.
"""
import math
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

# fp32 C++ against a float64 reference: fp32 rounding through a few layers is ~1e-6.
ATOL = RTOL = 1e-5


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + 1e-5) * w
    return y + b if b is not None else y


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def conv1d(x, w, b):
    """HF's Conv1D: y = x W + b with W stored (in, out)."""
    y = x @ w
    return y + b if b is not None else y


def gpt2_logits(w, n_head, ids):
    n_layer = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("h."))
    T = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]  # (T, C)
    C = x.shape[1]
    D = C // n_head
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(n_layer):
        p = f"h.{l}."
        h = layer_norm(x, w[p + "ln_1.weight"], w.get(p + "ln_1.bias"))
        qkv = conv1d(h, w[p + "attn.c_attn.weight"], w.get(p + "attn.c_attn.bias"))
        q, k, v = (t.reshape(T, n_head, D).transpose(0, 1) for t in qkv.split(C, dim=1))
        att = (q @ k.transpose(1, 2)) / math.sqrt(D)  # (H, T, T)
        att = att.masked_fill(future, float("-inf")).softmax(-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + conv1d(y, w[p + "attn.c_proj.weight"], w.get(p + "attn.c_proj.bias"))
        h = layer_norm(x, w[p + "ln_2.weight"], w.get(p + "ln_2.bias"))
        h = gelu(conv1d(h, w[p + "mlp.c_fc.weight"], w.get(p + "mlp.c_fc.bias")))
        x = x + conv1d(h, w[p + "mlp.c_proj.weight"], w.get(p + "mlp.c_proj.bias"))
    x = layer_norm(x, w["ln_f.weight"], w.get("ln_f.bias"))
    head = w.get("lm_head.weight", w["wte.weight"])  # tied unless lm_head is stored
    return x @ head.T  # (T, V)


def main(weights, ids, logits_file):
    w = {k: v.double() for k, v in load_file(weights).items()}
    with safe_open(weights, "pt") as f:
        n_head = int(f.metadata()["n_head"])
    ids = [int(i) for i in ids.split(",")]
    ref = gpt2_logits(w, n_head, ids)
    got = load_file(logits_file)["logits"][0].double()
    if got.shape != ref.shape:
        print(f"logits   NOT OK shape {tuple(got.shape)} vs reference {tuple(ref.shape)}")
        print("overall okay: 0")
        return 1
    diff = (got - ref).abs()
    ok = bool((diff <= ATOL + RTOL * ref.abs()).all())
    print(f"logits   {'OK' if ok else 'NOT OK'} max_diff {diff.max().item():.3e} "
          f"(|logit| up to {ref.abs().max().item():.2f}, {len(ids)} positions)")
    print(f"overall okay: {int(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))

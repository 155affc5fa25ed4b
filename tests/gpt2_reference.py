#!/usr/bin/env python3
"""gpt2_reference.py WEIGHTS KNLP_OUT --ids IDS [--batch B] [--targets IDS --steps N --lr LR
--weight-decay WD] - check knlp's GPT-2 against an independent one, as llm.c's test_gpt2.c.

Builds GPT-2 from WEIGHTS (safetensors, Hugging Face names: wte, wpe, h.N.ln_1,
h.N.attn.c_attn, ... with the block's linear weights stored (in, out) as HF's
Conv1D) in plain PyTorch, written from the math (no nn.Module, no SDPA, no
torch.optim, float64), and compares with KNLP_OUT, what `knlp logits` wrote:
  logits (B, T, V)   of IDS (comma-separated, B rows one after another);
  loss ()            mean cross-entropy against --targets;
  grad.<name>        every parameter's gradient of the loss (autograd, float64),
                     in the weights file's layout;
  losses (N + 1)     the loss after 0 .. N AdamW steps on this batch, the AdamW
                     update written out below, with knlp's weight-decay groups.
Prints one line per tensor, the worst relative gradient error and the two loss
trajectories side by side, then "overall okay: 0|1"; the exit status follows.
"""
import argparse
import math
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

# Tolerances: fp32 C++ against this float64 reference, on the parity test's
# model (4 layers, 64 wide, vocab 50257, B 4 x T 32). Measured values in docs/gpt2.md.
# Logits: fp32 rounding through the blocks and a 64-term dot product per logit
# is ~1e-6 (measured 8.9e-7 at |logit| up to 1.8); 1e-5 + 1e-5 |ref| is a 10x margin.
LOGIT_ATOL = LOGIT_RTOL = 1e-5
# Loss: a mean of B*T log-softmaxes over V; one fp32 ulp of a loss of ~9 is
# 9.5e-7 (measured 1.2e-6), so 1e-5 + 1e-6 |ref| leaves a 10x margin.
LOSS_ATOL, LOSS_RTOL = 1e-5, 1e-6
# Gradients: each tensor's error against its own largest entry, since entries
# span many decades and the small ones are sums that cancel. fp32 backward
# through 4 blocks and a softmax over V gives ~1e-6 of the tensor's scale
# (measured worst 1.0e-6, in a layer-norm gain); 1e-5 is a 10x margin and a
# wrong term (a missing bias or LN path) is O(1) of the scale.
GRAD_RTOL = 1e-5
# Ten AdamW steps: with lr 1e-3 an fp32 update differs from the float64 one by
# ~1e-6 of lr, so the losses stay within about an ulp of fp32 (measured 1.2e-6,
# the step-0 rounding); 1e-5 is an 8x margin. A wrong decay group moves the
# losses by far more, and check_trajectory() requires that it would.
TRAJ_ATOL = 1e-5

BETAS, EPS = (0.9, 0.999), 1e-8  # knlp's OptimSettings defaults (AdamW's usual ones)


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
    """ids (B, T) -> logits (B, T, V)."""
    n_layer = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("h."))
    B, T = ids.shape
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]  # (B, T, C)
    C = x.shape[-1]
    D = C // n_head
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(n_layer):
        p = f"h.{l}."
        h = layer_norm(x, w[p + "ln_1.weight"], w.get(p + "ln_1.bias"))
        qkv = conv1d(h, w[p + "attn.c_attn.weight"], w.get(p + "attn.c_attn.bias"))
        q, k, v = (t.reshape(B, T, n_head, D).transpose(1, 2) for t in qkv.split(C, dim=-1))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(D)  # (B, H, T, T)
        att = att.masked_fill(future, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, w[p + "attn.c_proj.weight"], w.get(p + "attn.c_proj.bias"))
        h = layer_norm(x, w[p + "ln_2.weight"], w.get(p + "ln_2.bias"))
        h = gelu(conv1d(h, w[p + "mlp.c_fc.weight"], w.get(p + "mlp.c_fc.bias")))
        x = x + conv1d(h, w[p + "mlp.c_proj.weight"], w.get(p + "mlp.c_proj.bias"))
    x = layer_norm(x, w["ln_f.weight"], w.get("ln_f.bias"))
    head = w.get("lm_head.weight", w["wte.weight"])  # tied unless lm_head is stored
    return x @ head.T  # (B, T, V)


def cross_entropy(logits, targets):
    """Mean over positions of -log softmax(logits)[target]."""
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)  # (B, T, V)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


def knlp_decays(name, t):
    """knlp's split_param_groups (src/optim/registry.cpp) for GPT-2: weights of Linear
    layers decay (the 2-D block weights, an untied lm_head); biases, the norm gains
    (1-D) and the Embeddings (wte, so also a head tied to it, and wpe) do not."""
    return t.dim() >= 2 and name not in ("wte.weight", "wpe.weight")


def nanogpt_decays(name, t):
    """nanoGPT's rule, every tensor of 2 or more dimensions: decays the embeddings too."""
    return t.dim() >= 2


def adamw_losses(w, n_head, ids, targets, steps, lr, wd, decays):
    """The loss after 0 .. steps AdamW updates of w (a copy) on one batch:
    p -= lr wd p (decay group only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    w = {k: v.detach().clone().requires_grad_(True) for k, v in w.items()}
    m = {k: torch.zeros_like(v) for k, v in w.items()}
    s = {k: torch.zeros_like(v) for k, v in w.items()}
    b1, b2 = BETAS
    losses = []
    for t in range(1, steps + 2):
        loss = cross_entropy(gpt2_logits(w, n_head, ids), targets)
        losses.append(loss.item())
        if t == steps + 1:
            break
        grads = torch.autograd.grad(loss, list(w.values()))
        with torch.no_grad():
            for (k, p), g in zip(w.items(), grads):
                if decays(k, p):
                    p.mul_(1.0 - lr * wd)
                m[k].mul_(b1).add_((1.0 - b1) * g)
                s[k].mul_(b2).add_((1.0 - b2) * g * g)
                denom = (s[k] / (1.0 - b2 ** t)).sqrt() + EPS
                p.sub_(lr / (1.0 - b1 ** t) * m[k] / denom)
    return torch.tensor(losses, dtype=torch.float64)


def check(name, got, ref, atol, rtol, note=""):
    """|got - ref| <= atol + rtol |ref| everywhere; prints one line."""
    if got.shape != ref.shape:
        print(f"{name:<28} NOT OK shape {tuple(got.shape)} vs reference {tuple(ref.shape)}")
        return False
    diff = (got - ref).abs()
    ok = bool((diff <= atol + rtol * ref.abs()).all())
    print(f"{name:<28} {'OK' if ok else 'NOT OK'} max_diff {diff.max().item():.3e}{note}")
    return ok


def check_grads(w, loss, got):
    """Every parameter's gradient against autograd's; each error relative to the
    largest entry of the reference tensor. Returns (ok, worst error, its name)."""
    names = list(w)
    ref = dict(zip(names, torch.autograd.grad(loss, [w[k] for k in names], retain_graph=True)))
    ok, worst, worst_name = True, 0.0, ""
    for k in names:
        if "grad." + k not in got:
            print(f"grad.{k:<23} NOT OK missing from knlp's file")
            ok = False
            continue
        scale = ref[k].abs().max().item()
        g = got["grad." + k].double()
        rel = (g - ref[k]).abs().max().item() / scale if g.shape == ref[k].shape else math.inf
        ok &= check("grad." + k, g, ref[k], GRAD_RTOL * scale, 0.0, f" rel {rel:.2e}")
        if rel > worst:
            worst, worst_name = rel, k
    extra = sorted(set(n[5:] for n in got if n.startswith("grad.")) - set(names))
    for k in extra:
        print(f"grad.{k:<23} NOT OK not a parameter of the weights file")
    return ok and not extra, worst, worst_name


def check_groups(w, meta):
    """knlp's decay group (metadata decay_params) is the one knlp_decays() describes."""
    theirs = set(filter(None, meta.get("decay_params", "").split(",")))
    ours = {k for k, v in w.items() if knlp_decays(k, v)}
    ok = theirs == ours
    print(f"{'decay group':<28} {'OK' if ok else 'NOT OK'} {len(theirs)} tensors"
          + ("" if ok else f"; knlp only: {sorted(theirs - ours)}, reference only: "
             f"{sorted(ours - theirs)}"))
    return ok


def check_trajectory(w, n_head, ids, targets, got, a):
    """knlp's AdamW losses against the float64 ones, side by side; and the check's
    power: the trajectories with the wrong decay groups must miss the right one."""
    ref = adamw_losses(w, n_head, ids, targets, a.steps, a.lr, a.weight_decay, knlp_decays)
    print(f"{'step':>4} {'knlp (fp32)':>14} {'reference (f64)':>16} {'diff':>10}")
    for k in range(len(ref)):
        g = got[k].item() if k < len(got) else math.nan
        print(f"{k:>4} {g:>14.7f} {ref[k].item():>16.7f} {abs(g - ref[k].item()):>10.2e}")
    ok = check("losses", got.double(), ref, TRAJ_ATOL, 0.0, f" ({a.steps} AdamW steps)")
    for what, rule in (("nanoGPT groups", nanogpt_decays), ("no decay", lambda k, t: False)):
        alt = adamw_losses(w, n_head, ids, targets, a.steps, a.lr, a.weight_decay, rule)
        miss = (alt - ref).abs().max().item()
        power = miss > 10 * TRAJ_ATOL
        print(f"{'losses with ' + what:<28} {'OK' if power else 'NOT OK'} differ by {miss:.3e} "
              f"(must exceed {10 * TRAJ_ATOL:.0e}, else the check cannot see the groups)")
        ok &= power
    return ok


def parse_ids(text, batch):
    ids = torch.tensor([int(i) for i in text.split(",")], dtype=torch.long)
    return ids.reshape(batch, -1)  # (B, T)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights")
    ap.add_argument("knlp_out")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--targets")
    ap.add_argument("--steps", type=int, default=0, help="AdamW steps knlp took (--adamw-steps)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    w = {k: v.double().requires_grad_(True) for k, v in load_file(a.weights).items()}
    with safe_open(a.weights, "pt") as f:
        n_head = int(f.metadata()["n_head"])
    with safe_open(a.knlp_out, "pt") as f:
        meta = f.metadata() or {}
    got = load_file(a.knlp_out)
    ids = parse_ids(a.ids, a.batch)
    logits = gpt2_logits(w, n_head, ids)
    ok = check("logits", got["logits"].double(), logits.detach(), LOGIT_ATOL, LOGIT_RTOL,
               f" (|logit| up to {logits.abs().max().item():.2f}, {tuple(logits.shape)})")
    if a.targets:
        targets = parse_ids(a.targets, a.batch)
        loss = cross_entropy(logits, targets)
        got_loss = got.get("loss", torch.full((1,), math.nan)).double()
        ok &= check("loss", got_loss, loss.detach(), LOSS_ATOL, LOSS_RTOL,
                    f" ({got_loss.flatten()[0].item():.7f} vs {loss.item():.7f})")
        grads_ok, worst, where = check_grads(w, loss, got)
        print(f"worst relative gradient error {worst:.3e} in {where} (tolerance {GRAD_RTOL:.0e})")
        ok &= grads_ok
        if a.steps:
            ok &= check_groups(w, meta)
            ok &= check_trajectory(w, n_head, ids, targets, got.get("losses", torch.empty(0)), a)
    print(f"overall okay: {int(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

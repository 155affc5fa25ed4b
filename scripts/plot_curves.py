#!/usr/bin/env python3
"""plot_curves.py RUN_DIR - draw RUN_DIR/curves.png from RUN_DIR/metrics.json.

Left: training loss (every logged step) and the evaluation loss (language
models: and the unigram baseline). Right: the run's metric per evaluation
(test accuracy for classifiers, validation perplexity on a log scale for
language models) and, when pruning, the sparsity reached.
Written to a temp file and renamed, so a crash never leaves half a PNG.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as f:
        m = json.load(f)
    evals, train = m.get("eval", []), m.get("train", [])
    metric = m.get("metric", "test_accuracy")
    x_key = "epoch" if evals and "epoch" in evals[0] else "step"

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    fig.suptitle(f"{m.get('name', m.get('run', ''))}  ({m.get('model', '')}, {m.get('optimizer', '')}, "
                 f"pruning {m.get('pruning', 'none')})")
    if train:
        steps = [p["step"] for p in train]
        ax_loss.plot(steps, [p["loss"] for p in train], lw=0.8, alpha=0.6, label="train (per step)")
    loss_keys = [k for k in ("test_loss", "val_loss") if evals and k in evals[0]]
    for k in loss_keys:
        ax_loss.plot([e["step"] for e in evals], [e[k] for e in evals], "o-", label=k.replace("_", " "))
    unigram = m.get("lm", {}).get("unigram_val_loss")
    if unigram is not None:  # language models: the loss of a model that ignores context
        ax_loss.axhline(unigram, ls="--", color="C3", lw=1, label=f"unigram baseline {unigram:.2f}")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)

    if evals and metric in evals[0]:
        ax_metric.plot([e[x_key] for e in evals], [e[metric] for e in evals], "o-", color="C2",
                       label=metric.replace("_", " "))
        if "train_accuracy" in evals[0] and metric == "test_accuracy":
            ax_metric.plot([e[x_key] for e in evals], [e["train_accuracy"] for e in evals], "s--",
                           color="C1", label="train accuracy")
    ax_metric.set_xlabel(x_key)
    ax_metric.set_ylabel(metric.replace("_", " "))
    ax_metric.grid(alpha=0.3)
    if not m.get("higher_is_better", True):
        ax_metric.set_yscale("log")  # perplexity falls from ~vocab size to tens
    ax_metric.legend(loc="upper right" if not m.get("higher_is_better", True) else "lower right")
    if evals and any(e.get("sparsity", 0) > 0 for e in evals):
        ax_s = ax_metric.twinx()
        ax_s.plot([e[x_key] for e in evals], [100 * e["sparsity"] for e in evals], "^:", color="C3",
                  label="sparsity %")
        ax_s.set_ylabel("sparsity %")
        ax_s.legend(loc="center right")

    fig.tight_layout()
    out = os.path.join(run_dir, "curves.png")
    fig.savefig(out + ".tmp.png", dpi=110)
    os.replace(out + ".tmp.png", out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

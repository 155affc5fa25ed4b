#!/usr/bin/env python3
"""plot_curves.py RUN_DIR - draw RUN_DIR/curves.png from RUN_DIR/metrics.json.

Left: training loss (every logged step), the validation loss and, where
evaluated, the test loss (language models: and the unigram baseline). Right:
the task's metric on validation (what selects the best checkpoint), on test
(image models: at each new best and at the end) and on the training batches;
perplexity on a log scale; when pruning, the sparsity reached.
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
    metric = m.get("metric", "val_accuracy")  # what selects the best checkpoint
    name = metric.split("_", 1)[1]            # accuracy, perplexity
    x_key = "epoch" if evals and "epoch" in evals[0] else "step"

    def series(key, x=x_key):
        """The evaluations that hold key (test only at new bests and the end)."""
        points = [e for e in evals if key in e]
        return [e[x] for e in points], [e[key] for e in points]

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    fig.suptitle(f"{m.get('name', m.get('run', ''))}  ({m.get('model', '')}, {m.get('optimizer', '')}, "
                 f"pruning {m.get('pruning', 'none')})")
    if train:
        steps = [p["step"] for p in train]
        ax_loss.plot(steps, [p["loss"] for p in train], lw=0.8, alpha=0.6, label="train (per step)")
    for k, style in (("val_loss", "o-"), ("test_loss", "x")):
        xs, ys = series(k, "step")
        if xs:
            ax_loss.plot(xs, ys, style, label=k.replace("_", " "))
    unigram = m.get("lm", {}).get("unigram_val_loss")
    if unigram is not None:  # language models: the loss of a model that ignores context
        ax_loss.axhline(unigram, ls="--", color="C3", lw=1, label=f"unigram baseline {unigram:.2f}")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)

    for k, style, color in (("val_" + name, "o-", "C2"), ("test_" + name, "x", "C0"),
                            ("train_" + name, "s--", "C1")):
        xs, ys = series(k)
        if xs:
            ax_metric.plot(xs, ys, style, color=color, label=k.replace("_", " "))
    ax_metric.set_xlabel(x_key)
    ax_metric.set_ylabel(name)
    ax_metric.grid(alpha=0.3)
    if not m.get("higher_is_better", True):
        ax_metric.set_yscale("log")  # perplexity falls from ~vocab size to tens
    ax_metric.legend(loc="upper right" if not m.get("higher_is_better", True) else "lower right")
    if any(e.get("sparsity", 0) > 0 for e in evals):
        ax_s = ax_metric.twinx()
        xs, ys = series("sparsity")
        ax_s.plot(xs, [100 * y for y in ys], "^:", color="C3", label="sparsity %")
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

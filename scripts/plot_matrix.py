#!/usr/bin/env python3
"""plot_matrix.py DIR - the plots of a test matrix, into DIR/plots/.

Reads only DIR/summary.csv (written by `knlp matrix report`) and each run's
DIR/<run>/metrics.json:
  metric_vs_sparsity.png   final metric (at the sparsity reached) against target
                           sparsity, one line per optimizer, pruning method and
                           AdamWPrune variant (mean over seeds), the dense run of
                           each optimizer as a dotted line
  curves_<optimizer>.png   the evaluation metric against the step, every run of
                           that optimizer (the seeds of a run in one color; a
                           log scale for losses and perplexities)
  metric_vs_memory.png     best metric against the run's peak resident memory
Runs without numbers (failed, unfinished) are left out of the plots.
"""
import csv
import json
import os
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = {"magnitude": "o", "movement": "s", "state": "^"}


def read_rows(root):
    with open(os.path.join(root, "summary.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if r["best"] != ""]


def by_model(rows):
    groups = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["metric"])].append(r)
    return sorted(groups.items())


def mean(values):
    return sum(values) / len(values)


def metric_vs_sparsity(rows, out):
    groups = by_model(rows)
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ((model, metric), rs) in zip(axes[0], groups):
        colors = {}
        for opt in sorted({r["optimizer"] for r in rs}):
            colors[opt] = f"C{len(colors) % 10}"
            dense = [float(r["final"]) for r in rs if r["optimizer"] == opt and r["pruning"] == "none"]
            if dense:
                ax.axhline(mean(dense), color=colors[opt], linestyle=":", linewidth=1,
                           label=f"{opt} dense")
            lines = defaultdict(lambda: defaultdict(list))
            for r in rs:
                if r["optimizer"] == opt and r["pruning"] != "none":
                    state = r["pruning"] == "state"
                    key = r["pruning"] + (f" {r['variant']}" if state and r["variant"] else "")
                    lines[key][100 * float(r["target_sparsity"])].append(float(r["final"]))
            for i, (key, points) in enumerate(sorted(lines.items())):
                xs = sorted(points)
                # one colour per optimizer; several lines of one optimizer get their own
                color = colors[opt] if len(lines) == 1 else plt.cm.tab20(
                    (len(colors) * 7 + i) % 20)
                ax.plot(xs, [mean(points[x]) for x in xs], color=color,
                        marker=MARKERS.get(key.split()[0], "x"), label=f"{opt} {key}")
        ax.set_title(model)
        ax.set_xlabel("target sparsity (%)")
        ax.set_ylabel(f"final {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "metric_vs_sparsity.png"), dpi=110)
    plt.close(fig)


def curves(root, rows, out):
    for opt in sorted({r["optimizer"] for r in rows}):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        colors = {}  # the seeds of one run share its color and one legend entry
        for r in rows:
            if r["optimizer"] != opt:
                continue
            try:
                with open(os.path.join(root, r["name"], "metrics.json"), encoding="utf-8") as f:
                    m = json.load(f)
            except (OSError, ValueError):
                continue
            evals = [e for e in m.get("eval", []) if r["metric"] in e and "step" in e]
            if evals:
                run = re.sub(r"_seed\d+$", "", r["name"])
                first = run not in colors
                colors.setdefault(run, f"C{len(colors) % 10}")
                ax.plot([e["step"] for e in evals], [e[r["metric"]] for e in evals], marker=".",
                        color=colors[run], label=run if first else None)
        ax.set_title(f"{opt}: evaluation during training")
        ax.set_xlabel("step")
        ax.set_ylabel(", ".join(sorted({r["metric"] for r in rows if r["optimizer"] == opt})))
        # Losses and perplexities fall by orders of magnitude from step 0.
        if all(r["higher_is_better"] == "0" for r in rows if r["optimizer"] == opt):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"curves_{opt}.png"), dpi=110)
        plt.close(fig)


def metric_vs_memory(rows, out):
    groups = by_model(rows)
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ((model, metric), rs) in zip(axes[0], groups):
        opts = sorted({r["optimizer"] for r in rs})
        for i, opt in enumerate(opts):
            pts = [(float(r["peak_rss_mib"]), float(r["best"])) for r in rs
                   if r["optimizer"] == opt and r["peak_rss_mib"] != ""]
            if pts:
                ax.scatter(*zip(*pts), color=f"C{i % 10}", label=opt)
        ax.set_title(model)
        ax.set_xlabel("peak resident memory (MiB)")
        ax.set_ylabel(f"best {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "metric_vs_memory.png"), dpi=110)
    plt.close(fig)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1]
    rows = read_rows(root)
    if not rows:
        print(f"knlp: error: {root}/summary.csv: no run has a metric yet", file=sys.stderr)
        return 1
    out = os.path.join(root, "plots")
    os.makedirs(out, exist_ok=True)
    metric_vs_sparsity(rows, out)
    curves(root, rows, out)
    metric_vs_memory(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""attention_table.py - the table of docs/attention.md from a finished matrix.

Usage: attention_table.py KNLP MATRIX_DIR

Groups the runs of MATRIX_DIR (results/matrix-<time>) by folder name without
the _seed<N> suffix and prints one Markdown row per group: final validation
perplexity as mean +- sample standard deviation and the range over seeds,
training tokens/s (mean over every logged point of every seed), and the
KV-cache bytes per token and layer that `knlp check` reports for the run's
.config. Then, paired by seed against the first run (the standard
attention, which the matrix runs first): each seed's perplexity, the
difference from that seed's standard run in percent, and how many seeds came
out lower. A seed fixes the training and validation batches whatever the
variant (src/train/lm_task.cpp), so when the seed spread is wide, the paired
difference is the one to read.
"""
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path


def kv_line(knlp, config):
    out = subprocess.run([knlp, "check", "--config", str(config)], capture_output=True,
                         text=True, check=True)
    m = re.search(r"kv cache: ([\d.]+) bytes .*?, ([\d.]+)x less", out.stdout + out.stderr)
    return float(m.group(1)), float(m.group(2))


def main(knlp, matrix_dir):
    groups = {}
    for metrics in sorted(Path(matrix_dir).glob("*/metrics.json")):
        run = json.loads(metrics.read_text())
        name = re.sub(r"_seed\d+$", "", metrics.parent.name)
        groups.setdefault(name, []).append((metrics.parent, run))
    print("| run | seeds | val ppl mean ± sd | range | tokens/s | KV bytes/token/layer (fp32) | vs standard |")
    print("|---|---|---|---|---|---|---|")
    # In the order the matrix ran them (seeds outermost: its variant order).
    started = {name: min((d / "config").stat().st_mtime for d, _ in runs)
               for name, runs in groups.items()}
    for name, runs in sorted(groups.items(), key=lambda g: started[g[0]]):
        ppl = [r["summary"]["final"] for _, r in runs if r["summary"].get("status") == "done"]
        tps = [p["tokens_per_s"] for _, r in runs for p in r["train"]]
        kv, ratio = kv_line(knlp, runs[0][0] / "config")
        sd = statistics.stdev(ppl) if len(ppl) > 1 else 0.0
        print(f"| {name} | {len(ppl)} | {statistics.mean(ppl):.1f} ± {sd:.1f} | "
              f"{min(ppl):.1f}–{max(ppl):.1f} | {statistics.mean(tps):.0f} | {kv:.0f} | "
              f"{ratio:.2f}x |")
    paired(sorted(groups.items(), key=lambda g: started[g[0]]))


def paired(groups):
    """Per seed: perplexity and the change against the first group's run of that seed."""
    def by_seed(runs):
        return {int(re.search(r"_seed(\d+)$", d.name).group(1)): r["summary"]["final"]
                for d, r in runs if r["summary"].get("status") == "done" and "_seed" in d.name}
    base_name, base_runs = groups[0]
    base = by_seed(base_runs)
    seeds = sorted(base)
    print()
    print("| run | " + " | ".join(f"seed {s}" for s in seeds) + f" | mean change vs {base_name} | seeds lower |")
    print("|---|" + "---|" * len(seeds) + "---|---|")
    for name, runs in groups:
        ppl = by_seed(runs)
        change = [100 * (ppl[s] / base[s] - 1) for s in seeds if s in ppl]
        cells = [f"{ppl[s]:.1f} ({100 * (ppl[s] / base[s] - 1):+.1f} %)" if s in ppl else "-" for s in seeds]
        lower = sum(c < 0 for c in change)
        print(f"| {name} | " + " | ".join(cells) +
              f" | {statistics.mean(change):+.1f} % | {lower} of {len(change)} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

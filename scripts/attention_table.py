#!/usr/bin/env python3
"""attention_table.py - the table of docs/attention.md from a finished matrix.

Usage: attention_table.py KNLP MATRIX_DIR

Groups the runs of MATRIX_DIR (results/matrix-<time>) by folder name without
the _seed<N> suffix and prints one Markdown row per group: final validation
perplexity as mean +- sample standard deviation and the range over seeds,
training tokens/s (mean over every logged point of every seed), and the
KV-cache bytes per token and layer that `knlp check` reports for the run's
.config.
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


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

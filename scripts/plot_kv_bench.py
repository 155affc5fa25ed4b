#!/usr/bin/env python3
"""plot_kv_bench.py - plot `knlp bench decode --json FILE` results.

  plot_kv_bench.py BENCH.json OUT.png [--heads 12 --head-dim 64] [--table]

One column per batch size, for one head shape: the top row is the speed-up
over the fp32 cache (fused kernel), the bottom row the achieved bandwidth
(bytes of cache read per step over the median time) as a fraction of the
machine's copy bandwidth the benchmark measured. --table also prints the
results of every head shape as a markdown table (docs/int4-kv.md).
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (format, kernel) -> label, style; the order of the legend
SERIES = [
    (("int4", "fused"), "int4 fused", dict(color="C3", marker="o")),
    (("k8v4", "fused"), "K8/V4 fused", dict(color="C1", marker="s")),
    (("int8", "fused"), "int8 fused", dict(color="C2", marker="^")),
    (("bf16", "fused"), "bf16 fused", dict(color="C4", marker="v")),
    (("fp32", "fused"), "fp32 fused", dict(color="C0", marker="D")),
    (("fp32", "sdpa"), "fp32 torch SDPA", dict(color="C0", marker="x", linestyle="--")),
    (("int4", "unfused"), "int4 dequant + SDPA", dict(color="C3", marker="x", linestyle="--")),
]


def table(doc):
    """One markdown row per shape: fp32 (fused and SDPA), then per format
    ms per step (median / min), GB/s and % of copy bandwidth (median), and
    the speed-up over the fused fp32 cache."""
    fmts = ["bf16", "int8", "k8v4", "int4"]
    by = {}
    for r in doc["results"]:
        key = (r["heads"], r["head_dim"], r["batch"], r["context"])
        by.setdefault(key, {})[(r["format"], r["kernel"])] = r
    head = "| shape | fp32 ms | SDPA ms | " + " | ".join(
        f"{f} ms | {f} GB/s (% copy) | {f} x fp32" for f in fmts) + " |"
    print(head)
    print("|" + "---|" * (3 + 3 * len(fmts)))
    for (h, d, b, t), rows in sorted(by.items()):
        fp32, sdpa = rows[("fp32", "fused")], rows[("fp32", "sdpa")]
        cells = [f"B{b} {h}x{d} T{t // 1024}K",
                 f"{fp32['median_ms']:.3g}", f"{sdpa['median_ms']:.3g}"]
        for f in fmts:
            r = rows[(f, "fused")]
            cells += [f"{r['median_ms']:.3g} / {r['min_ms']:.3g}",
                      f"{r['gbps']:.1f} ({100 * r['frac_copy_bw']:.0f} %)",
                      f"{r['speedup_vs_fp32']:.1f}"]
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench")
    ap.add_argument("out")
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--table", action="store_true", help="print a markdown table too")
    args = ap.parse_args()
    doc = json.load(open(args.bench))
    if args.table:
        table(doc)
    rows = [r for r in doc["results"]
            if r["heads"] == args.heads and r["head_dim"] == args.head_dim]
    batches = sorted({r["batch"] for r in rows})
    if not rows:
        raise SystemExit(f"{args.bench}: no results for {args.heads}x{args.head_dim}")
    fig, axes = plt.subplots(2, len(batches), figsize=(4.2 * len(batches), 7),
                             sharex=True, squeeze=False)
    for col, b in enumerate(batches):
        for (fmt, kernel), label, style in SERIES:
            pts = sorted((r["context"], r["speedup_vs_fp32"], r["frac_copy_bw"])
                         for r in rows
                         if r["batch"] == b and r["format"] == fmt and r["kernel"] == kernel)
            if not pts:
                continue
            ctx = [p[0] for p in pts]
            axes[0][col].plot(ctx, [p[1] for p in pts], label=label, **style)
            axes[1][col].plot(ctx, [100 * p[2] for p in pts], label=label, **style)
        axes[0][col].set_title(f"batch {b}, {args.heads} heads x {args.head_dim}")
        axes[0][col].axhline(3, color="grey", linewidth=0.8, linestyle=":")
        axes[1][col].axhline(70, color="grey", linewidth=0.8, linestyle=":")
        axes[1][col].set_xlabel("context (tokens)")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("speed-up over the fp32 cache (x)")
    axes[1][0].set_ylabel("cache bytes read / time, % of copy bandwidth")
    axes[0][-1].legend(fontsize=8)
    bw = doc["bandwidth"]
    fig.suptitle(f"knlp bench decode: {doc['device']}, {doc['threads']} threads, {doc['isa']}; "
                 f"copy {bw['copy_gbps']:.1f} GB/s, read {bw['read_gbps']:.1f} GB/s "
                 f"({doc['commit']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"  PLOT    {args.out}")


if __name__ == "__main__":
    main()

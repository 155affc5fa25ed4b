#!/usr/bin/env python3
"""prune_memory.py - peak resident memory of state pruning vs movement pruning.

Trains the same model for the same steps three ways - dense AdamW, AdamW +
movement pruning, AdamWPrune state pruning (bitter7) - each run in its own
`knlp run` process, and records each process's peak resident set size
(metrics.json summary.peak_rss_mib, and /usr/bin/time's maximum RSS when it
is installed) and what `knlp check` reports the pruner itself keeps.
Movement keeps an fp32 copy of the initial weights beside its 1-byte masks;
state pruning keeps only the masks, so the difference should be about 4
bytes per prunable weight.

  bench/prune_memory.py --knlp build/knlp --out bench/out/prune_memory.json

The data is a tiny generated Fashion-MNIST-format set (the model and the
optimizer dominate memory, not the data), written to a temporary folder.
Until the AdamWPrune optimizer lands, the state arm runs on AdamW (the JSON
records the optimizer each arm resolved to).
"""
import argparse
import gzip
import json
import os
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# One defconfig fragment per arm; kconfiglib completes it into a full .config.
COMMON = """CONFIG_MODEL_SELECT_{model}=y
CONFIG_{model}_DATASET_FASHION_MNIST=y
CONFIG_{model}_USE_AUGMENTATION=n
CONFIG_NUM_EPOCHS=1
CONFIG_BATCH_SIZE={batch}
CONFIG_SEED=1
CONFIG_DEVICE="cpu"
CONFIG_TRAIN_THREADS={threads}
CONFIG_CHECKPOINT_INTERVAL=0
CONFIG_LOG_LEVEL="warn"
CONFIG_DATA_DIR="{data}"
CONFIG_OUTPUT_DIR="{out}"
"""
ARMS = {
    "dense": "CONFIG_OPTIMIZER_SELECT_ADAMW=y\nCONFIG_PRUNING_MODE_NONE=y\n",
    "movement": """CONFIG_OPTIMIZER_SELECT_ADAMW=y
CONFIG_PRUNING_MODE_SINGLE=y
CONFIG_PRUNING_SELECT_MOVEMENT=y
CONFIG_TARGET_SPARSITY="0.7"
CONFIG_PRUNING_WARMUP=0
CONFIG_PRUNING_FREQUENCY=1
CONFIG_PRUNING_RAMP_END_EPOCH=1
""",
    "state": """CONFIG_OPTIMIZER_SELECT_ADAMWPRUNE=y
CONFIG_PRUNING_MODE_SINGLE=y
CONFIG_PRUNING_SELECT_STATE=y
CONFIG_ADAMWPRUNE_TARGET_SPARSITY="0.7"
CONFIG_ADAMWPRUNE_WARMUP_STEPS=0
CONFIG_ADAMWPRUNE_FREQUENCY=1
CONFIG_ADAMWPRUNE_RAMP_END_EPOCH=1
CONFIG_ADAMWPRUNE_VARIANT_BITTER7=y
""",
}


def write_idx(path, dims, data):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, len(dims)))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(bytes(data))


def write_tiny_fashion(folder, n_train, n_test):
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), (n, 28, 28),
                  [rng.randrange(256) for _ in range(n * 28 * 28)])
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), (n,),
                  [rng.randrange(10) for _ in range(n)])


def make_config(python, fragment, path):
    frag = path + ".defconfig"
    with open(frag, "w") as f:
        f.write(fragment)
    env = dict(os.environ, KCONFIG_CONFIG=path)
    subprocess.run([python, os.path.join(ROOT, "scripts/kconfig.py"), "defconfig", frag],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    values = {}
    for line in open(path):
        m = re.match(r'^CONFIG_([A-Z0-9_]+)="?([^"]*)"?$', line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    return values


def pruner_bytes(knlp, config):
    """What `knlp check` says the pruner keeps: (MiB, bytes per prunable weight)."""
    out = subprocess.run([knlp, "check", "--config", config], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"the pruner keeps ([0-9.]+) MiB \(([0-9.]+) bytes per prunable weight\)", out)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def run_once(knlp, config, run_dir):
    time_v = ["/usr/bin/time", "-v"] if os.access("/usr/bin/time", os.X_OK) else []
    cmd = time_v + [
        knlp, "run", "--config", config, "--run-dir", run_dir, "--quiet", "--no-plot"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"knlp: error: {' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    summary = json.load(open(os.path.join(run_dir, "metrics.json")))["summary"]
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return {"peak_rss_mib": summary["peak_rss_mib"],
            "time_max_rss_mib": int(m.group(1)) / 1024 if m else None,
            "final_sparsity": summary["final_sparsity"]}


def git_revision():
    p = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=12"],
                       capture_output=True, text=True)
    return p.stdout.strip() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--knlp", default=os.path.join(ROOT, "build/knlp"))
    ap.add_argument("--python", default=sys.executable, help="python with kconfiglib")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/out/prune_memory.json"))
    ap.add_argument("--model", default="resnet18", choices=["resnet18", "resnet50"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--train-images", type=int, default=64, help="steps = this / batch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="knlp-prune-memory-")
    try:
        write_tiny_fashion(os.path.join(work, "data", "fashion-mnist"), args.train_images, 32)
        arms = {}
        for name, fragment in ARMS.items():
            text = COMMON.format(model=args.model.upper(), batch=args.batch, threads=args.threads,
                                 data=os.path.join(work, "data"),
                                 out=os.path.join(work, "out")) + fragment
            config = os.path.join(work, f"{name}.config")
            values = make_config(args.python, text, config)
            mib, per_weight = pruner_bytes(args.knlp, config)
            runs = [run_once(args.knlp, config, os.path.join(work, f"{name}-{i}"))
                    for i in range(args.repeats)]
            arms[name] = {
                "optimizer": values.get("OPTIMIZER"),
                "pruning": values.get("PRUNING_METHOD"),
                "variant": values.get("ADAMWPRUNE_VARIANT") if name == "state" else None,
                "pruner_state_mib": mib,
                "pruner_bytes_per_prunable_weight": per_weight,
                "peak_rss_mib": [r["peak_rss_mib"] for r in runs],
                "peak_rss_mib_median": statistics.median(r["peak_rss_mib"] for r in runs),
                "time_max_rss_mib": [r["time_max_rss_mib"] for r in runs],
                "final_sparsity": runs[-1]["final_sparsity"],
            }
            print(f"  {name:9s} {arms[name]['optimizer']:10s} pruner {mib} MiB, peak RSS "
                  f"median {arms[name]['peak_rss_mib_median']:.1f} MiB")
        result = {
            "benchmark": "prune_memory",
            "device": "cpu",
            "threads": args.threads,
            "commit": git_revision(),
            "model": args.model,
            "batch": args.batch,
            "steps": -(-args.train_images // args.batch),
            "repeats": args.repeats,
            "arms": arms,
            "movement_minus_state_peak_rss_mib": arms["movement"]["peak_rss_mib_median"] -
            arms["state"]["peak_rss_mib_median"],
            "state_minus_dense_peak_rss_mib": arms["state"]["peak_rss_mib_median"] -
            arms["dense"]["peak_rss_mib_median"],
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, args.out)
        print(f"  JSON    {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

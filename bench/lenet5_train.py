#!/usr/bin/env python3
"""lenet5_train.py - training throughput of knlp against the same loop in Python.

Both train LeNet-5 (batch norm, AdamW, same batch) on Fashion-MNIST for one
epoch with the same torch, thread count and in-memory batching, and report
images/s of the training steps (data indexing, forward, backward, step).
knlp's figure is the epochs' images_per_s from its metrics.json. Writes JSON
with both, their ratio, the machine and the commit.

  bench/lenet5_train.py --knlp build/knlp [--threads 2] [--batch 128] [--repeats 2] --out FILE
"""
import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data[4:4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def python_images_per_s(threads, epochs, batch):
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    x = torch.from_numpy(read_idx(f"{FMNIST}/train-images-idx3-ubyte.gz").copy()).float().div(255)
    x = F.pad(x.unsqueeze(1), (2, 2, 2, 2)).sub(0.2860).div(0.3530).contiguous()
    y = torch.from_numpy(read_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz").astype(np.int64))
    model = LeNet5()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    seconds, seen = 0.0, 0
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(y), batch):
            t0 = time.perf_counter()
            idx = order[i:i + batch]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
            seconds += time.perf_counter() - t0
            seen += len(idx)
    return seen / seconds


def knlp_images_per_s(knlp, threads, epochs, batch):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, ".config")
        env = dict(os.environ, KCONFIG_CONFIG=cfg)
        subprocess.run([sys.executable, "scripts/kconfig.py", "defconfig", "defconfigs/lenet5"],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        run = os.path.join(tmp, "run")
        subprocess.run([knlp, "run", "--config", cfg, "--run-dir", run, "--quiet", "--no-plot",
                        "--set", f"NUM_EPOCHS={epochs}", "--set", f"TRAIN_THREADS={threads}",
                        "--set", f"BATCH_SIZE={batch}", "--set", "DEVICE=cpu"],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(run, "metrics.json")) as f:
            evals = json.load(f)["eval"]
        # Every epoch trains the same images: the run's rate is the harmonic mean.
        rates = [e["images_per_s"] for e in evals if "images_per_s" in e]
        return len(rates) / sum(1 / r for r in rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--knlp", default=os.path.join(ROOT, "build", "knlp"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="best of N alternating runs of each")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "lenet5_train.json"))
    a = ap.parse_args()
    ours = python = 0.0
    for _ in range(a.repeats):  # alternate, so a busy spell on the machine hits both
        ours = max(ours, knlp_images_per_s(os.path.abspath(a.knlp), a.threads, a.epochs, a.batch))
        python = max(python, python_images_per_s(a.threads, a.epochs, a.batch))
    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "lenet5_train", "device": "cpu", "cpu": platform.processor() or platform.machine(),
              "threads": a.threads, "epochs": a.epochs, "batch": a.batch, "repeats": a.repeats, "torch": torch.__version__,
              "commit": commit, "knlp_images_per_s": round(ours, 1), "python_images_per_s": round(python, 1),
              "ratio_knlp_over_python": round(ours / python, 3)}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

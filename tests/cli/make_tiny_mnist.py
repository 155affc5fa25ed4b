#!/usr/bin/env python3
"""make_tiny_mnist.py DIR N_TRAIN N_TEST - a learnable MNIST-format set for tests.

Writes DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Class k is a
bright 6x6 square at a position given by k, on noise; written with numpy and
gzip alone, independently of the C++ writer the unit tests use.
"""
import gzip
import os
import struct
import sys

import numpy as np


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def split(out, prefix, n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, k in enumerate(labels):
        r, c = 2 + 6 * (k // 4), 2 + 6 * (k % 4)
        images[i, r:r + 6, c:c + 6] = 250
    write_idx(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), images)
    write_idx(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), labels)


if __name__ == "__main__":
    out = os.path.join(sys.argv[1], "mnist")
    os.makedirs(out, exist_ok=True)
    split(out, "train", int(sys.argv[2]), 1)
    split(out, "t10k", int(sys.argv[3]), 2)

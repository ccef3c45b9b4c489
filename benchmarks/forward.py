"""Whole-network forward pass, every blob returned: jaxvis vs the independent
PyTorch reference of the same architecture (tests/reference/torch_nets.py),
measured side by side in one run.

    python benchmarks/forward.py [--models caffenet,vgg_s] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from tests.reference import torch_nets  # noqa: E402


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="caffenet,vgg_s,torchvision_alexnet")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); torch {torch.__version__} "
          f"with {torch.get_num_threads()} threads; batch {args.batch}")
    print(f"{'model':20s} {'jaxvis ms':>10s} {'torch ms':>10s} {'torch/jaxvis':>12s}")
    for name in args.models.split(","):
        net = jaxvis.load_model(name)
        ref = torch_nets.build(name)
        size = net.spec.input_size[0]
        x = np.random.default_rng(0).normal(0, 50, (args.batch, size, size, 3)).astype(np.float32)
        tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

        def run_jax():
            jax.block_until_ready(net.blobs(x))

        def run_torch():
            with torch.no_grad():
                torch_nets.blobs(ref, tx)

        tj, tt = best_of(run_jax, args.repeats), best_of(run_torch, args.repeats)
        print(f"{name:20s} {tj * 1e3:10.1f} {tt * 1e3:10.1f} {tt / tj:12.2f}")


if __name__ == "__main__":
    main()

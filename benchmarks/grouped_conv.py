"""Grouped convolution on this device: split-into-groups + concat (jaxvis's
CPU default) vs XLA's feature_group_count, forward and forward+backward
(the ascent engine needs both), with PyTorch's grouped conv as a reference.

    python benchmarks/grouped_conv.py [--batch 8] [--repeats 20]

Prints absolute times and ratios measured side by side in this one run.
"""

from __future__ import annotations

import argparse
import platform

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.ops import conv2d
from timing import best_time  # benchmarks/timing.py

# (name, H=W, Cin, Cout, kernel, pad, groups): the grouped layers of CaffeNet/AlexNet.
LAYERS = [("conv2", 27, 96, 256, 5, 2, 2), ("conv4", 13, 384, 384, 3, 1, 2), ("conv5", 13, 384, 256, 3, 1, 2)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind} ({jax.default_backend()}), {jax.device_count()} device(s); "
          f"host {platform.processor() or platform.machine()}; jax {jax.__version__}; batch {args.batch}")
    try:
        import torch
    except ImportError:
        torch = None
    print(f"{'layer':6s} {'pass':9s} {'split ms':>9s} {'xla ms':>9s} {'xla/split':>9s} "
          f"{'torch ms':>9s} {'torch/split':>11s}")
    rng = np.random.default_rng(0)
    for name, hw, cin, cout, k, pad, groups in LAYERS:
        x = jnp.asarray(rng.normal(size=(args.batch, hw, hw, cin)), jnp.float32)
        w = jnp.asarray(rng.normal(size=(k, k, cin // groups, cout)) * 0.05, jnp.float32)
        b = jnp.zeros((cout,), jnp.float32)
        for label in ("forward", "fwd+bwd"):
            times = {}
            for impl in ("split", "xla"):
                f = lambda x, impl=impl: conv2d(x, w, b, stride=1, pad=pad, groups=groups, group_impl=impl)  # noqa: E731
                if label == "fwd+bwd":
                    f = jax.grad(lambda x, f=f: jnp.sum(f(x) ** 2))
                f = jax.jit(f)
                times[impl] = best_time(lambda f=f: f(x).block_until_ready(), args.repeats)
            ref = float("nan")
            if torch is not None:
                tx = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy()).requires_grad_(label == "fwd+bwd")
                tw = torch.from_numpy(np.asarray(w).transpose(3, 2, 0, 1).copy())

                def run_torch():
                    y = torch.nn.functional.conv2d(tx, tw, padding=pad, groups=groups)
                    if label == "fwd+bwd":
                        (y ** 2).sum().backward()

                ref = best_time(run_torch, args.repeats)
            print(f"{name:6s} {label:9s} {times['split'] * 1e3:9.2f} {times['xla'] * 1e3:9.2f} "
                  f"{times['xla'] / times['split']:9.2f} {ref * 1e3:9.2f} {ref / times['split']:11.2f}")


if __name__ == "__main__":
    main()

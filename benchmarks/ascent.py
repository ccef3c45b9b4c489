"""Ascent throughput, image-steps per second, for CaffeNet conv5 centre units
with the paper's row-3 regularization (decay, blur every 4 steps, range clip):

  (a) jaxvis batched: B units in one compiled program,
  (b) jaxvis one unit at a time: B separate runs of batch 1,
  (c) a plain PyTorch eager loop doing the same step on the same
      architecture (tests/reference/torch_nets.py), batched, on the whole image,
  (d) jaxvis batched on the whole image too (no receptive-field crop or
      cone: what the JAX engine does without its exact shortcut).

    python benchmarks/ascent.py [--batches 1,8,32] [--steps 20] [--model caffenet --layer conv5]

All three are measured side by side in this run, after a warm-up run that
absorbs compilation. Prints the device and the ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import jax
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from jaxvis.optimize import run_layer  # noqa: E402
from tests.reference import torch_nets  # noqa: E402


def jax_run(net, layer, channels, steps, seed=0, use_crops=True):
    info = net.layer(layer)
    h, w = info.shape[:2]
    settings = dict(jaxvis.optimize.preset("row3").to_dict(), steps=steps)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(np.arange(len(channels)))
    ys = np.full(len(channels), h // 2)
    xs = np.full(len(channels), w // 2)
    out = run_layer(net, layer, np.asarray(channels), ys, xs, keys, settings, use_crops=use_crops)
    return out.best_value


def torch_gaussian(sigma):
    r = int(4 * sigma + 0.5)
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    return k / k.sum(), r


def torch_run(model, layer, channels, steps, mean_bgr, lr=100.0, decay=1e-4, width=1.0, every=4):
    """The same ascent in eager PyTorch: NCHW, conv5 centre units."""
    b = len(channels)
    x = (torch.randn(b, 3, 227, 227) * 10.0).requires_grad_(True)
    k, r = torch_gaussian(width)
    kh, kw = k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    lower = (-mean_bgr).view(1, 3, 1, 1)
    upper = (255.0 - mean_bgr).view(1, 3, 1, 1)
    idx = torch.arange(b)
    ch = torch.as_tensor(channels)
    for step in range(steps):
        act = torch_nets.run_until(model, x, layer)
        c = act.shape[-1] // 2
        act[idx, ch, c, c].sum().backward()
        with torch.no_grad():
            y = (x + lr * x.grad) * (1 - decay)
            if step % every == 0:
                y = torch.nn.functional.pad(y, (0, 0, r, r), mode="reflect")
                y = torch.nn.functional.conv2d(y, kh, groups=3)
                y = torch.nn.functional.pad(y, (r, r, 0, 0), mode="reflect")
                y = torch.nn.functional.conv2d(y, kw, groups=3)
            y = torch.maximum(torch.minimum(y, upper), lower)
        x = y.requires_grad_(True)
    return x


def rate(fn, images, steps, repeats=2):
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return images * steps / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--model", default="caffenet")
    ap.add_argument("--layer", default="conv5")
    args = ap.parse_args()
    net = jaxvis.load_model(args.model)
    ref = torch_nets.build(args.model)
    mean = torch.tensor(net.spec.mean_array(), dtype=torch.float32)
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind} ({jax.default_backend()}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.model} {args.layer} centre units, row 3, {args.steps} steps")
    print(f"{'batch':>5s} {'(a) batched':>12s} {'(b) one-by-one':>15s} {'(c) torch':>10s} {'(d) whole':>10s} "
          f"{'a/c':>6s} {'d/c':>6s} {'a/b':>6s}   image-steps/s")
    for b in [int(v) for v in args.batches.split(",")]:
        channels = list(range(b))
        jax_run(net, args.layer, channels, args.steps)  # compile
        jax_run(net, args.layer, channels[:1], args.steps)
        a = rate(lambda: jax_run(net, args.layer, channels, args.steps), b, args.steps)
        one = rate(lambda: [jax_run(net, args.layer, [c], args.steps) for c in channels], b, args.steps, repeats=1)
        c = rate(lambda: torch_run(ref, args.layer, channels, args.steps, mean), b, args.steps)
        jax_run(net, args.layer, channels, args.steps, use_crops=False)  # compile
        d = rate(lambda: jax_run(net, args.layer, channels, args.steps, use_crops=False), b, args.steps)
        print(f"{b:5d} {a:12.1f} {one:15.1f} {c:10.1f} {d:10.1f} {a / c:6.2f} {d / c:6.2f} {a / one:6.2f}")


if __name__ == "__main__":
    main()

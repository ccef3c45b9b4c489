"""How interpretable are the optimized images? On the shipped demo world:

1. activation reached by the ascent vs the unit's mean (and max) activation
   over generated images, for conv5 centre units and class units;
2. for every class unit (fc8, pre-softmax): the probability that ``demo``
   itself gives the class to its row-3 image, and the fraction of images that
   the independently trained ``demo_b`` also classifies as that class, for
   row 3 vs no regularization (the paper's "more interpretable", measured).

    python benchmarks/recognisability.py [--restarts 9] [--images 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from jaxvis.data import shapes  # noqa: E402


def probs(net, images_uint8):
    return np.asarray(net.blobs(net.preprocess(images_uint8))["prob"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--restarts", type=int, default=9)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    demo, demo_b = jaxvis.load_model("demo"), jaxvis.load_model("demo_b")
    print(f"device: {jax.devices()[0].device_kind}; {args.restarts} restarts per unit")
    images, _ = shapes.make_batch(31337, 0, args.images)
    blobs = demo.blobs(demo.preprocess(images))
    conv5 = np.asarray(blobs["conv5"])
    h = conv5.shape[1] // 2
    conv_units = [("conv5", c) for c in range(0, conv5.shape[-1], 4)]
    t = time.time()
    res = jaxvis.visualize(demo, conv_units, preset="row3", restarts=args.restarts, seed=args.seed)
    reached = res.best_value.max(1)
    centre = conv5[:, h, h, :]
    sel = [c for _, c in conv_units]
    spread = centre[:, sel].std(0)
    print(f"conv5 centre units ({len(sel)}, pre-ReLU): ascent reached {np.mean(reached):.1f} on average; over "
          f"{args.images} images their mean is {centre[:, sel].mean():.2f}, max {centre[:, sel].max(0).mean():.2f}; "
          f"reached - mean = {np.mean((reached - centre[:, sel].mean(0)) / spread):.0f} std of the images' values; "
          f"reached / max = {np.mean(reached / centre[:, sel].max(0)):.1f}x [{time.time() - t:.0f}s]")

    classes = demo.spec.class_names
    fc8 = np.asarray(blobs["fc8"])
    units = [("fc8", c) for c in range(len(classes))]
    for preset in ("row3", "none"):
        t = time.time()
        res = jaxvis.visualize(demo, units, preset=preset, restarts=args.restarts, seed=args.seed)
        flat = res.images.reshape(-1, *res.images.shape[2:])
        labels = np.repeat(np.arange(len(classes)), args.restarts)
        p_a, p_b = probs(demo, flat), probs(demo_b, flat)
        own = p_a[np.arange(len(labels)), labels]
        b_hit = p_b.argmax(1) == labels
        print(f"\n{preset}: class units, {time.time() - t:.0f}s; fc8 reached {res.best_value.mean():.1f} "
              f"vs mean {fc8.mean():.2f}, max {fc8.max():.2f} over images")
        print(f"  demo p(class) > 0.9: {np.mean(own > 0.9):.3f}   (min p {own.min():.3f})")
        print(f"  demo_b top-1 = class: {np.mean(b_hit):.3f}   "
              f"mean demo_b p(class) {p_b[np.arange(len(labels)), labels].mean():.3f}")
        for c, name in enumerate(classes):
            m = labels == c
            print(f"    {name:9s} demo p>0.9 {np.mean(own[m] > 0.9):.2f}  demo_b agrees {np.mean(b_hit[m]):.2f}")


if __name__ == "__main__":
    main()

"""Do backward projections point at the object? On the shipped demo world,
for each generated image: take its strongest conv5 unit (the channel and
location of the largest conv5 activation), project it to pixels with each
mode, and measure the fraction of the projection's energy (per-pixel L2 norm
over colour channels, summed) inside the object's ground-truth mask, against
the mask's share of the image (what a projection spread evenly would get).

    python benchmarks/projection_mask.py [--images 256] [--seed 4242]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from jaxvis.data import shapes  # noqa: E402

MODES = ("deconv", "guided", "backprop")


def inside_fraction(projection: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """projection [B, H, W, C], masks [B, H, W] -> per image, the share of
    sum_pixels ||v||_2 that lies on mask pixels."""
    energy = np.sqrt(np.sum(np.square(projection, dtype=np.float64), axis=-1))
    total = energy.sum(axis=(1, 2))
    return (energy * masks).sum(axis=(1, 2)) / np.where(total > 0, total, 1.0)


def strongest_units(net, x, layer: str = "conv5"):
    """Per image: (channel, (y, x)) of the largest activation of ``layer``."""
    blob = np.asarray(net.blobs(x, until=layer)[layer])
    flat = blob.reshape(len(blob), -1).argmax(axis=1)
    y, xx, c = np.unravel_index(flat, blob.shape[1:])
    return c, np.stack([y, xx], axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--model", default="demo")
    args = ap.parse_args()
    net = jaxvis.load_model(args.model)
    samples = [shapes.make_sample(args.seed, i) for i in range(args.images)]
    images = np.stack([s.image for s in samples])
    masks = np.stack([s.mask for s in samples]).astype(np.float64)
    x = net.preprocess(images)
    channel, at = strongest_units(net, x)
    share = masks.mean(axis=(1, 2))
    print(f"device: {jax.devices()[0].device_kind}; {args.model}, {args.images} images of generator seed "
          f"{args.seed}, strongest conv5 unit per image (seed 1 at its location)")
    print(f"mask share of the image: mean {share.mean():.3f}")
    for mode in MODES:
        inside = np.concatenate([inside_fraction(jaxvis.project(net, x[i:i + 64], "conv5", channel[i:i + 64],
                                                                at=at[i:i + 64], mode=mode), masks[i:i + 64])
                                 for i in range(0, len(x), 64)])
        print(f"{mode:>8s}: energy inside the mask {inside.mean():.3f} (std {inside.std():.3f}); "
              f"ratio to the mask share {np.mean(inside / share):.2f}; above the share for "
              f"{np.mean(inside > share):.1%} of images")


if __name__ == "__main__":
    main()

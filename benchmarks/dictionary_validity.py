"""Do dictionary features mean more than channels? ``configs/demo_dictionary.py``'s
features of ``demo``'s conv5 against conv5's own channels, judged on the demo
world's ground truth.

    python benchmarks/dictionary_validity.py [--workdir workdirs/dictionary_demo]

Runs (or resumes, or only reads) ``jaxvis dictionary`` with
configs/demo_dictionary.py into ``--workdir``, then reads its gallery's unit
metas. Each unit's top-9 (the 9 strongest places over the gallery's scoring
images, ``meta.json``'s ``top9``: image, map place) is looked up in the
generator's ground truth (``GeneratedImages.sample``), and per unit:

* class purity: the share of the 9 carrying their most common shape class;
* colour purity: the same for the object's colour, in 6 hue bins (grey
  colours, saturation under 0.2, their own bin);
* place purity: the same for where the place's receptive-field centre lies
  relative to the object: off it (farther than 1.25 object radii from its
  centre), or in one of 3 x 3 cells of the object's box, scaled by its radius;
* on object: the share of the 9 whose centre pixel is on the object's mask.

Each is printed beside its chance level: the same statistic for 9 random
(image, place) draws from the same images, 4000 draws (for place purity,
places near the object: most of an image is off it, which would make a
random draw look pure). Then the machine
forced-choice scores the gallery computed (``mis_visualizations``: the unit's
optimized images as references; ``mis_natural``: its top-9), and the
dictionary's pick-up rate: latents never firing on the held-out images,
latents dead at the end of training, and near-duplicates, features whose
decoder direction has a cosine above 0.9 with another's (against the same
count of random directions in the layer's space).
"""

from __future__ import annotations

import argparse
import colorsys
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from benchmarks.timing import cpu_model  # noqa: E402
from jaxvis.config_files import load_config  # noqa: E402
from jaxvis.data import shapes  # noqa: E402

HUE_BINS = 6
DUPLICATE_COSINE = 0.9
CHANCE_DRAWS = 4000


def hue_bin(color) -> int:
    h, _, s = colorsys.rgb_to_hls(*(c / 255.0 for c in color))
    return HUE_BINS if s < 0.2 else int(h * HUE_BINS) % HUE_BINS


def place_bin(sample: shapes.Sample, py: float, px: float) -> int:
    """0..8: the 3 x 3 cell of the object (offset / radius); 9: off the object."""
    p = sample.params
    dy, dx = (py - p.cy) / p.radius, (px - p.cx) / p.radius
    if dy * dy + dx * dx > 1.25 ** 2:
        return 9
    cell = lambda d: int(np.clip(np.floor((d + 1.0) * 1.5), 0, 2))  # noqa: E731
    return 3 * cell(dy) + cell(dx)


def purity(values) -> float:
    _, counts = np.unique(np.asarray(values), return_counts=True)
    return counts.max() / len(values)


class GroundTruth:
    """The scoring images' samples, and the pixel of a map place."""

    def __init__(self, seed: int, count: int, info):
        self.samples = [shapes.make_sample(seed, i) for i in range(count)]
        self.info = info

    def pixel(self, y: int, x: int) -> tuple[float, float]:
        return (self.info.rf_offset + self.info.rf_stride * y, self.info.rf_offset + self.info.rf_stride * x)

    def describe(self, image: int, y: int, x: int) -> tuple[int, int, int, bool]:
        s = self.samples[image]
        py, px = self.pixel(y, x)
        on = bool(s.mask[int(round(np.clip(py, 0, 63))), int(round(np.clip(px, 0, 63)))])
        return s.label, hue_bin(s.params.color), place_bin(s, py, px), on

    def unit_stats(self, top9) -> np.ndarray:
        rows = np.array([self.describe(t["image"], t["y"], t["x"]) for t in top9])
        return np.array([purity(rows[:, 0]), purity(rows[:, 1]), purity(rows[:, 2]), rows[:, 3].mean()])

    def chance(self, grid: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """The four statistics of 9 random (image, place) draws, averaged; place
        purity's own draws are places near the object (bins 0..8), since most
        places of an image are off it."""
        n = len(self.samples)

        def draw(near: bool) -> dict:
            while True:
                t = {"image": int(rng.integers(n)), "y": int(rng.integers(grid[0])), "x": int(rng.integers(grid[1]))}
                if not near or self.describe(t["image"], t["y"], t["x"])[2] < 9:
                    return t

        anywhere = np.mean([self.unit_stats([draw(False) for _ in range(9)]) for _ in range(CHANCE_DRAWS)], axis=0)
        near = np.mean([self.unit_stats([draw(True) for _ in range(9)]) for _ in range(CHANCE_DRAWS)], axis=0)
        return np.array([anywhere[0], anywhere[1], near[2], anywhere[3]])


def unit_metas(gallery: str, layer: str) -> list[dict]:
    root = os.path.join(gallery, "units", "row3", layer)
    return [json.load(open(os.path.join(root, u, "meta.json"))) for u in sorted(os.listdir(root))]


def near_duplicates(w_dec: np.ndarray) -> float:
    """The share of columns whose cosine with another column exceeds DUPLICATE_COSINE."""
    w = w_dec / np.linalg.norm(w_dec, axis=0, keepdims=True)
    c = np.abs(w.T @ w)
    np.fill_diagonal(c, 0.0)
    return float(np.mean(c.max(axis=1) > DUPLICATE_COSINE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="workdirs/dictionary_demo")
    ap.add_argument("--config", default="configs/demo_dictionary.py")
    args = ap.parse_args()
    print(f"device: {cpu_model()}")
    t0 = time.perf_counter()
    jaxvis.run_dictionary(load_config(args.config), args.workdir)
    print(f"jaxvis dictionary (trained, visualized, or resumed/read): {time.perf_counter() - t0:.0f} s")
    gallery = os.path.join(args.workdir, "gallery")
    gconfig = json.load(open(os.path.join(gallery, "config.json")))
    d = jaxvis.load_dictionary(args.workdir)
    net = jaxvis.load_model(d.model)
    info = net.layer(d.layer)
    truth = GroundTruth(int(gconfig["score_seed"]), int(gconfig["score_images"]), info)
    chance = truth.chance(info.grid, np.random.default_rng(0))

    names = ("class purity", "colour purity", "place purity", "on object")
    rows = {}
    for label, layer in (("features", d.blob), ("channels", d.layer)):
        metas = unit_metas(gallery, layer)
        stats = np.array([truth.unit_stats(m["top9"]) for m in metas])
        scores = {k: np.mean([m["scores"][k] for m in metas]) for k in ("mis_visualizations", "mis_natural",
                                                                         "activation")}
        rows[label] = (len(metas), stats.mean(axis=0), scores)

    print(f"\n{d.model} {d.layer}: {d.latents} features (k={d.k}) vs its {info.channels} channels; top-9 over "
          f"{len(truth.samples)} images of seed {gconfig['score_seed']} (mean over units)")
    print(f"{'':14s}" + "".join(f"{n:>15s}" for n in names) + f"{'mis_vis':>10s}{'mis_nat':>10s}{'activation':>12s}")
    for label, (count, stats, scores) in rows.items():
        print(f"{label + f' ({count})':14s}" + "".join(f"{v:15.3f}" for v in stats)
              + f"{scores['mis_visualizations']:10.3f}{scores['mis_natural']:10.3f}{scores['activation']:12.2f}")
    print(f"{'chance':14s}" + "".join(f"{v:15.3f}" for v in chance) + f"{0.5:10.3f}{0.5:10.3f}")

    m = d.meta["metrics"]
    w_dec = np.asarray(d.params["W_dec"], np.float64)
    random = np.random.default_rng(0).standard_normal(w_dec.shape)
    print(f"\npick-up: never fired on {m['samples']} held-out samples {m['never_fired']:.3f}, dead at the end of "
          f"training {m['dead_at_end']:.3f}; near-duplicates (decoder cosine > {DUPLICATE_COSINE}) "
          f"{near_duplicates(w_dec):.3f} (random directions: {near_duplicates(random):.3f}); "
          f"held-out fve {m['fve']:.3f}, L0 {m['l0']:.1f}")


if __name__ == "__main__":
    main()

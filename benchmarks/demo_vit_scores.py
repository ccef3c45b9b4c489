"""What the demo world's ViT's images show, judged on the world's ground
truth: ``configs/demo_vit.py``'s job on ``demo_vit`` with the three image
families side by side, and its scores summarised per layer and family.

    python benchmarks/demo_vit_scores.py [--steps 256] [--restarts 3] [--block-units 16] \\
        [--workdir workdirs/demo_vit_scores]

Per layer and family (jaxvis/jobs/unit_scores.py): for the class units,
``demo_b``'s mean probability of the class on the images (``mean_p``: the
independent judge, as the README's demo table measures it); for every unit,
the machine forced-choice score with the visualizations as references and
with the unit's top-9 images as references (0.5 is chance), and the
activation reached against the strongest of the 512 scoring images. The job
resumes, so a re-run with the same flags only prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from benchmarks.timing import cpu_model  # noqa: E402

FAMILIES = ("row3", "fourier", "maco")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--block-units", type=int, default=16, help="channels of blocks.3 (the first N)")
    ap.add_argument("--workdir", default="workdirs/demo_vit_scores")
    args = ap.parse_args()
    config = jaxvis.load_config("configs/demo_vit.py")
    config.presets, config.steps, config.restarts = FAMILIES, args.steps, args.restarts
    config.units_per_layer = args.block_units
    t0 = time.time()
    jaxvis.run_visualize(config, args.workdir)
    print(f"demo_vit, {args.steps} steps, {args.restarts} restarts, blocks.3 units 0..{args.block_units - 1} and "
          f"the 10 class units; {cpu_model()}, {jax.devices()[0].platform}; {time.time() - t0:.0f} s")
    print("| layer | family | demo_b mean p | MIS (visualizations) | MIS (top-9) | activation |")
    print("|---|---|---|---|---|---|")
    for layer in config.layers:
        for family in FAMILIES:
            root = os.path.join(args.workdir, "units", family, layer)
            scores = [json.load(open(os.path.join(root, d, "meta.json")))["scores"] for d in sorted(os.listdir(root))]

            def mean(key, sub=None):
                vals = [s[key][sub] if sub else s[key] for s in scores if s.get(key) is not None]
                return f"{np.mean(vals):.2f}" if vals else "-"

            p = mean("transferability", "mean_p") if layer == "head" else "-"
            print(f"| {layer} | {family} | {p} | {mean('mis_visualizations')} | {mean('mis_natural')} | "
                  f"{mean('activation')} |")


if __name__ == "__main__":
    main()

"""Backward-projection throughput, projections per second, CaffeNet conv5
(one unit per image, seed 1 at the map's centre), jaxvis vs Captum on the
PyTorch reference network with the same random weights, side by side:

    python benchmarks/projections.py [--batches 1,32] [--modes deconv,guided]

Each side gets one warm-up call (jaxvis compiles there); the best of
``--repeats`` timed calls counts. Prints the device and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import jax
import numpy as np
import torch
from captum.attr import Deconvolution, GuidedBackprop

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from jaxvis.weights.layout import params_from_source_layout  # noqa: E402
from tests.reference import torch_nets  # noqa: E402
from timing import best_time  # noqa: E402  (benchmarks/timing.py)

CAPTUM = {"deconv": Deconvolution, "guided": GuidedBackprop}


class Until(torch.nn.Module):
    def __init__(self, model, blob):
        super().__init__()
        self.model, self.blob = model, blob

    def forward(self, x):
        for _, blob, mod in self.model.plan:
            x = mod(x)
            if blob == self.blob:
                return x
        raise KeyError(self.blob)


def main():
    warnings.filterwarnings("ignore", module="captum")
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--modes", default="deconv,guided")
    ap.add_argument("--layer", default="conv5")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ref = torch_nets.build("caffenet", seed=0)
    definition = jaxvis.get_model_def("caffenet")
    arrays = {k: [v["weight"], v["bias"]] for k, v in torch_nets.param_arrays(ref).items()}
    net = jaxvis.Net(definition, params_from_source_layout(definition, arrays, "torch"), definition.spec)
    info = net.layer(args.layer)
    at = (info.shape[0] // 2, info.shape[1] // 2)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; caffenet {args.layer}, seed 1 at {at}, one unit per image")
    print(f"{'mode':>8s} {'batch':>5s} {'jaxvis':>9s} {'captum':>9s} {'ratio':>6s}   projections/s")
    model = Until(ref, args.layer)
    for mode in args.modes.split(","):
        for b in [int(v) for v in args.batches.split(",")]:
            images = np.random.default_rng(b).integers(0, 256, (b, 227, 227, 3), dtype=np.uint8)
            x = net.preprocess(images)
            channels = np.arange(b) % info.channels
            tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            ours = best_time(lambda: jaxvis.project(net, x, args.layer, channels, at=at, mode=mode), args.repeats)
            method = CAPTUM[mode](model)
            targets = [(int(c), *at) for c in channels]  # one per image: Captum batches them
            theirs = best_time(lambda: method.attribute(tx, target=targets), args.repeats)
            print(f"{mode:>8s} {b:5d} {b / ours:9.1f} {b / theirs:9.1f} {theirs / ours:6.2f}")


if __name__ == "__main__":
    main()

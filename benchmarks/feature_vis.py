"""Lucid/Lucent-style feature visualization of CaffeNet conv5 channels, wall
time of the same work side by side in one run on this machine:

  (a) jaxvis: ``jaxvis.visualize(net, [("conv5", c) for c in range(U)],
      preset="fourier", restarts=1, seed=0, steps=S, objective="channel")``,
      all U units in one compiled program; timed twice: the first call
      (compile + run) and a second, identical call (run only);
  (b) Lucent's ``render_vis`` batched by hand, as its users do: ONE
      render_vis with a batch of U Fourier images (``param.image(227,
      batch=U)``) and the objective ``sum(objectives.channel("conv5", c,
      batch=c) for c in range(U))``, i.e. one forward/backward of the whole
      torch CaffeNet on [U, 3, 227, 227] per step;
  (c) Lucent one unit at a time: U separate render_vis runs of one image,
      ESTIMATED as U x the measured 1-unit time of (b) (not run U times).

    python benchmarks/feature_vis.py [--units 1,32] [--steps 64] [--warmup 2]
    python benchmarks/feature_vis.py --only torch --units 1 --steps 4 --check

Why a transcription: the issue asks for ``torch-lucent`` itself, but it cannot
run here: it is not on this machine's package index (the only "lucent" there
is an unrelated 2017 package, 0.1.0), and Lucent imports torchvision (its
``normalize`` transform) and kornia<=0.4.1, while torchvision does not import
beside this torch build. So (b) runs ``LucentTranscription`` below, a
line-by-line plain-torch transcription of Lucent's render_vis loop
(greentfrapp/lucent, lucent/optvis: render.py, param/spatial.py,
param/color.py, param/images.py, transform.py, objectives.py) with kornia
0.4.1's ``translate`` / ``get_rotation_matrix2d`` / ``warp_affine`` written
out in torch. Each step, exactly as Lucent does:

  1. image_f (param.image(227, batch=U, fft=True, decorrelate=True)):
     coefficients [U, 3, 227, 115, 2] ~ N(0, 0.01^2) (227 is odd: Lucid's
     w//2+2 columns), times scale = 1 / max(f, 1/227) ** 1 (Lucent's
     ``fft_image`` has no sqrt(w h) factor: its irfft is norm="ortho", which
     is Lucid's sqrt(w h) times TF's unnormalised irfft2d), viewed as complex,
     ``torch.fft.irfftn(s=(227, 227), norm="ortho")`` (which reads the first
     w//2+1 columns), cropped, divided by 4; then ``_linear_decorrelate_color``
     (x @ (color_correlation_svd_sqrt / max_norm_svd_sqrt).T, Lucent's fixed
     ImageNet matrix) and a sigmoid: RGB in (0, 1), [U, 3, 227, 227];
  2. transform_f: Lucent's ``standard_transforms``: pad 12 (constant 0.5),
     jitter(8) (kornia translate by integer dx, dy in 0..7; kornia 0.4.1
     normalises with the (W - 1) convention but samples with
     align_corners=False, so content moves by dx W / (W - 1): kept), random_scale
     (one of 1 + (i - 5) / 50, bilinear Upsample with align_corners=True to
     ceil(scale * side), zero-padded back when smaller), random_rotate (one of
     list(range(-10, 11)) + 5 * [0] degrees, kornia warp_affine about the
     centre), jitter(4); then the network's input preprocessing (below); then
     the ``Upsample(size=227, mode="bilinear", align_corners=True)`` that
     render_vis appends for ``fixed_image_size=227``. One draw per step for
     the whole batch (Lucent's transforms draw with np.random once per call);
  3. ``model(x)``: the WHOLE torch CaffeNet forward (to fc8 and softmax; a
     forward hook on every module, as Lucent's ``hook_model``), the
     objective read from the hooked output of the module named ``--layer``;
  4. loss = objective (Lucent's objectives are already negated: channel =
     -mean of the channel map over its batch element and H, W), backward,
     ``torch.optim.Adam([coefficients], lr=5e-2).step`` (through a closure,
     as render_vis). The model's weights keep ``requires_grad`` (render_vis
     never freezes them, and Lucent's README only calls ``.eval()``), so each
     backward also accumulates weight gradients; ``--freeze`` times a user who
     freezes them instead;
  5. after the last step (``thresholds=(S,)``): image_f() to a numpy array.

Deviations from Lucent, all cost-neutral or in torch's favour:
  - preprocessing: Lucent's ``preprocess=True`` appends torchvision's
    ImageNet ``normalize`` (RGB, 0..1, mean/std), which is wrong for Caffe's
    CaffeNet; here ``preprocess=False`` and the user's transform list ends
    with Caffe's preprocessing instead, in the place Lucent puts its own:
    x * 255, RGB -> BGR, minus the mean pixel (104.007, 116.669, 122.679), so
    the network sees what jaxvis's caffenet (its spec: BGR, 0..255, mean
    pixel) would. A torch expression on the whole batch (Lucent's normalize
    loops over the images in Python);
  - no tqdm, no PIL display (progress=False, show_image=False);
  - the forward hooks are removed when render_vis returns (Lucent leaves
    them, so repeated calls on one model stack them); the colour matrix is
    made once, not per step; one float(loss) per step is read for the
    objective column (a scalar, negligible);
  - the weights: tests/reference/torch_nets.py's random CaffeNet (seed 0),
    copied into jaxvis (jaxvis's layout conversion, as benchmarks/live.py
    does), so both sides run the same numbers (checked on conv5 by --check).

Which conv5: jaxvis's caffenet keeps the convolution's output as "conv5" and
its ReLU as "relu5" (Caffe's in-place blob "conv5" is jaxvis's "relu5"); the
torch reference has the modules conv5 and relu5. A Lucent hook on module
"conv5" returns the convolution's output, before relu5: that is what both
sides maximise with the default ``--layer conv5`` (``--layer relu5`` moves
both to after the ReLU; the torch side still runs the whole network).

What jaxvis does differently inside its step is its own design
(jaxvis/optimize/families.py: per-element transform draws, its Fourier
normalisation, transforms sized to return the input's size with no final
resize): the comparison is the same job (same network and weights, units,
objective, steps, image size, optimizer and transform family), not
bit-identical images. The printed objective (channel mean at the first and
last step, each side on its own transformed image) shows both make progress.

Timing: torch runs one untimed render_vis of ``--warmup`` steps at the same
batch first (allocator, thread pool), then one timed render_vis of S steps
(parameter set-up, the S steps, the final image). jaxvis's first call
includes compilation; its second call is the steady-state number compared.
torch uses ``--threads`` threads (default: every core, as XLA's CPU client)
with OMP_WAIT_POLICY=PASSIVE unless the environment sets it (on this 2-core
CPU shared with other jobs, spinning OpenMP threads made the 1-unit loop 10x
slower whenever another process held a core; set OMP_WAIT_POLICY=ACTIVE to
time torch's default). The share of the CPUs other processes used during
each timed run is printed beside it.
Ratios are Lucent time / jaxvis time (above 1: jaxvis faster). Prints the
device; never fails on a ratio.

The ceiling (printed last): this CPU's dense FP32 rate, measured in the same
run on 2048^3 matrix products (torch and jax.numpy, the faster counts), and
the least work an ascent step can do, twice XLA's FLOP count of the forward
to the layer on what jaxvis feeds it (the unit's crop for neuron objectives,
the whole image for channel objectives; the input gradient of a convolution
costs its forward). t_min = units x steps x that work / that rate is a lower
bound on any implementation's time, so b / t_min bounds the ratio over (b)
reachable on this machine; "(a) of rate" is the share of the rate jaxvis
reaches.

``--check`` first runs cheap correctness checks of the transcription: the
Fourier image's shape and range, the identity cases of the kornia warps,
every transform chain ending at 227x227, torch conv5 == jaxvis conv5 on the
same input, and the loss falling over a few steps.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

# torch's OpenMP threads sleep rather than spin at barriers unless told otherwise:
# on a small CPU shared with other work, spinning threads of a many-small-ops
# loop (1 unit) were measured 10x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.reference import torch_nets  # noqa: E402
from timing import best_time, cpu_model, cpu_seconds  # noqa: E402  (benchmarks/timing.py)

INPUT = 227  # CaffeNet's fixed input side: Lucent's fixed_image_size and param.image size
MEAN_BGR = (104.007, 116.669, 122.679)  # jaxvis caffenet's spec.mean (Caffe's mean pixel, BGR)


# ============================================================================== Lucent, in torch

class LucentTranscription:
    """Lucent's render_vis path for a Fourier, decorrelated image, written out
    in plain torch (see the module docstring). Random draws: torch's global
    generator for the coefficients, numpy's global one for the transforms, as
    Lucent."""

    # lucent/optvis/param/color.py
    COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02],
                                             [0.27, 0.00, -0.05],
                                             [0.27, -0.09, 0.03]], np.float32)
    MAX_NORM_SVD_SQRT = np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
    COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION_SVD_SQRT / MAX_NORM_SVD_SQRT

    # ---------------------------------------------------------------- param/spatial.py

    @staticmethod
    def rfft2d_freqs(h, w):
        """Lucid's spectrum frequencies: [h, w//2+1], or w//2+2 columns for odd w."""
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 == 1 else 1)]
        return np.sqrt(fx * fx + fy * fy)

    @classmethod
    def fft_image(cls, shape, sd=0.01, decay_power=1.0):
        batch, channels, h, w = shape
        freqs = cls.rfft2d_freqs(h, w)
        coeffs = (torch.randn(batch, channels, *freqs.shape, 2) * sd).requires_grad_(True)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
        scale = torch.tensor(scale).float()[None, None, ..., None]

        def inner():
            spectrum = torch.view_as_complex(scale * coeffs)
            image = torch.fft.irfftn(spectrum, s=(h, w), norm="ortho")
            image = image[:batch, :channels, :h, :w]
            return image / 4.0  # Lucid's "magic" constant

        return [coeffs], inner

    # ---------------------------------------------------------------- param/color.py, param/images.py

    @classmethod
    def to_valid_rgb(cls, image_f, decorrelate=True):
        matrix_t = torch.tensor(cls.COLOR_CORRELATION_NORMALIZED.T)

        def inner():
            image = image_f()
            if decorrelate:
                image = torch.matmul(image.permute(0, 2, 3, 1), matrix_t).permute(0, 3, 1, 2)
            return torch.sigmoid(image)

        return inner

    @classmethod
    def image(cls, w, batch=1):
        """param.image(w, batch=batch) with its defaults: fft=True, decorrelate=True, sd 0.01."""
        params, image_f = cls.fft_image([batch, 3, w, w])
        return params, cls.to_valid_rgb(image_f, decorrelate=True)

    # ---------------------------------------------------------------- kornia 0.4.1, in torch

    @staticmethod
    def _normal_transform_pixel(h, w):
        """kornia's pixel -> [-1, 1] matrix, (W - 1) convention: [3, 3]."""
        return torch.tensor([[2.0 / (w - 1.0), 0.0, -1.0], [0.0, 2.0 / (h - 1.0), -1.0], [0.0, 0.0, 1.0]])

    @classmethod
    def warp_affine(cls, src, m, dsize):
        """kornia.warp_affine(src, m [B, 2, 3] in pixels, dsize), bilinear, zeros,
        align_corners=False (kornia 0.4.1's default, though its normalisation
        uses the (W - 1) convention: integer shifts become shifts by dx W/(W-1))."""
        b, c, h, w = src.shape
        m3 = torch.cat([m, torch.tensor([0.0, 0.0, 1.0]).expand(m.shape[0], 1, 3)], dim=1)
        dst_norm = cls._normal_transform_pixel(*dsize) @ (m3 @ torch.inverse(cls._normal_transform_pixel(h, w)))
        src_norm = torch.inverse(dst_norm)
        grid = F.affine_grid(src_norm[:, :2, :], [b, c, dsize[0], dsize[1]], align_corners=False)
        return F.grid_sample(src, grid, align_corners=False, mode="bilinear", padding_mode="zeros")

    @classmethod
    def translate(cls, image_t, translation):
        """kornia.translate: translation [1, 2] (dx, dy) broadcast over the batch."""
        m = torch.eye(3).repeat(translation.shape[0], 1, 1)
        m[:, 0, 2] += translation[:, 0]
        m[:, 1, 2] += translation[:, 1]
        m = m[:, :2, :3].expand(image_t.shape[0], -1, -1)
        return cls.warp_affine(image_t, m, image_t.shape[2:])

    @staticmethod
    def get_rotation_matrix2d(center, angle_deg, scale):
        """kornia.get_rotation_matrix2d (OpenCV's getRotationMatrix2D): [B, 2, 3]."""
        rad = angle_deg * math.pi / 180.0
        cos, sin = torch.cos(rad), torch.sin(rad)
        rot = torch.stack([cos, sin, -sin, cos], dim=-1).view(-1, 2, 2)
        scaled = rot @ (torch.eye(2).repeat(rot.shape[0], 1, 1) * scale.unsqueeze(2).repeat(1, 1, 2))
        alpha, beta = scaled[:, 0, 0], scaled[:, 0, 1]
        x, y = center[..., 0], center[..., 1]
        m = torch.zeros(center.shape[0], 2, 3)
        m[:, :2, :2] = scaled
        m[:, 0, 2] = (1.0 - alpha) * x - beta * y
        m[:, 1, 2] = beta * x + (1.0 - alpha) * y
        return m

    # ---------------------------------------------------------------- transform.py

    @classmethod
    def jitter(cls, d):
        def inner(image_t):
            dx, dy = np.random.choice(d), np.random.choice(d)
            return cls.translate(image_t, torch.tensor([[dx, dy]]).float())

        return inner

    @staticmethod
    def pad(w, mode="reflect", constant_value=0.5):
        if mode != "constant":
            constant_value = 0
        return lambda image_t: F.pad(image_t, [w] * 4, mode=mode, value=constant_value)

    @staticmethod
    def _roundup(value):
        return np.ceil(value).astype(int)

    @classmethod
    def random_scale(cls, scales):
        def inner(image_t):
            scale = np.random.choice(scales)
            shp = image_t.shape[2:]
            scale_shape = [int(cls._roundup(scale * d)) for d in shp]
            pad_x = max(0, int(cls._roundup((shp[1] - scale_shape[1]) / 2)))
            pad_y = max(0, int(cls._roundup((shp[0] - scale_shape[0]) / 2)))
            upsample = torch.nn.Upsample(size=scale_shape, mode="bilinear", align_corners=True)
            return F.pad(upsample(image_t), [pad_y, pad_x] * 2)  # Lucent's order, kept

        return inner

    @classmethod
    def random_rotate(cls, angles):
        def inner(image_t):
            b, _, h, w = image_t.shape
            alpha = np.random.choice(angles)  # degrees
            angle = torch.ones(b) * float(alpha)
            scale = torch.ones(b, 2)
            center = torch.ones(b, 2)
            center[..., 0] = (image_t.shape[3] - 1) / 2
            center[..., 1] = (image_t.shape[2] - 1) / 2
            m = cls.get_rotation_matrix2d(center, angle, scale)
            return cls.warp_affine(image_t.float(), m, (h, w))

        return inner

    @staticmethod
    def compose(transforms):
        def inner(x):
            for transform in transforms:
                x = transform(x)
            return x

        return inner

    @classmethod
    def standard_transforms(cls):
        return [
            cls.pad(12, mode="constant", constant_value=0.5),
            cls.jitter(8),
            cls.random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
            cls.random_rotate(list(range(-10, 11)) + 5 * [0]),
            cls.jitter(4),
        ]

    @staticmethod
    def caffe_preprocess(mean_bgr=MEAN_BGR):
        """The user's preprocessing transform for Caffe's CaffeNet (in place of
        Lucent's torchvision normalize): RGB 0..1 -> BGR 0..255 minus the mean pixel."""
        mean = torch.tensor(mean_bgr, dtype=torch.float32).view(1, 3, 1, 1)
        return lambda image_t: image_t.flip(1) * 255.0 - mean

    # ---------------------------------------------------------------- objectives.py

    @staticmethod
    def channel(layer, n_channel, batch=None):
        """objectives.channel: -mean of channel n_channel (of batch element ``batch``)."""
        def inner(hook):
            t = hook(layer)
            if isinstance(batch, int):
                t = t[batch:batch + 1]
            return -t[:, n_channel].mean()

        return inner

    @staticmethod
    def neuron(layer, n_channel, batch=None):
        """objectives.neuron with x = y = None: -the centre activation (_extract_act_pos:
        position (H // 2, W // 2)) of channel n_channel (of batch element ``batch``)."""
        def inner(hook):
            t = hook(layer)
            if isinstance(batch, int):
                t = t[batch:batch + 1]
            h, w = t.shape[2] // 2, t.shape[3] // 2
            return -t[:, n_channel, h:h + 1, w:w + 1].mean()

        return inner

    @staticmethod
    def objective_sum(objectives):
        """Objective.sum: Python's sum of the terms."""
        return lambda hook: sum([obj(hook) for obj in objectives])

    # ---------------------------------------------------------------- render.py

    @staticmethod
    def hook_model(model, image_f):
        """A forward hook on every module (recursively), keyed by "_"-joined names."""
        features, handles = {}, []

        def hook_layers(net, prefix=()):
            for name, layer in net._modules.items():
                if layer is None:
                    continue
                key = "_".join(prefix + (name,))

                def hook_fn(module, inputs, output, key=key):
                    features[key] = output

                handles.append(layer.register_forward_hook(hook_fn))
                hook_layers(layer, prefix + (name,))

        hook_layers(model)

        def hook(layer):
            if layer == "input":
                return image_f()
            if layer == "labels":
                return list(features.values())[-1]
            out = features.get(layer)
            assert out is not None, f"no saved feature map for {layer!r}"
            return out

        return hook, handles

    @classmethod
    def render_vis(cls, model, objective_f, param_f, transforms, steps, fixed_image_size=INPUT,
                   trace=None):
        """render_vis(model, objective_f, param_f, transforms=transforms,
        thresholds=(steps,), preprocess=False, progress=False,
        show_image=False, fixed_image_size=...): the list of one image
        [B, H, W, 3]. ``trace``: a list that receives each step's loss."""
        params, image_f = param_f()
        optimizer = torch.optim.Adam(params, lr=5e-2)
        transforms = list(transforms)
        image_shape = image_f().shape
        if fixed_image_size is not None:
            new_size = fixed_image_size
        elif image_shape[2] < 224 or image_shape[3] < 224:
            new_size = 224
        else:
            new_size = None
        if new_size:
            transforms.append(torch.nn.Upsample(size=new_size, mode="bilinear", align_corners=True))
        transform_f = cls.compose(transforms)
        hook, handles = cls.hook_model(model, image_f)
        images = []
        try:
            for i in range(1, steps + 1):
                def closure():
                    optimizer.zero_grad()
                    model(transform_f(image_f()))
                    loss = objective_f(hook)
                    loss.backward()
                    return loss

                loss = optimizer.step(closure)
                if trace is not None:
                    trace.append(float(loss.detach()))
                if i == steps:
                    images.append(image_f().detach().numpy().transpose(0, 2, 3, 1))
        finally:
            for h in handles:
                h.remove()
        return images


L = LucentTranscription


def lucent_run(model, layer, n_units, steps, trace=None, kind="channel"):
    """The hand-batched Lucent job: one render_vis, a batch of n_units images,
    unit c on batch element c (for one unit: the plain objective); ``kind``:
    Lucent's objectives.channel or objectives.neuron (the centre unit)."""
    term = getattr(L, kind)
    if n_units == 1:
        objective = term(layer, 0)
    else:
        objective = L.objective_sum([term(layer, c, batch=c) for c in range(n_units)])
    transforms = L.standard_transforms() + [L.caffe_preprocess()]
    return L.render_vis(model, objective, lambda: L.image(INPUT, batch=n_units), transforms, steps,
                        fixed_image_size=INPUT, trace=trace)


# ============================================================================== jaxvis

def jaxvis_caffenet(model):
    """jaxvis's caffenet with the torch reference's weights (as benchmarks/live.py)."""
    import jax

    import jaxvis
    from jaxvis.weights.layout import params_from_source_layout

    definition = jaxvis.get_model_def("caffenet")
    arrays = {k: [v["weight"], v["bias"]] for k, v in torch_nets.param_arrays(model).items()}
    params = jax.device_put(params_from_source_layout(definition, arrays, "torch"))
    return jaxvis.Net(definition, params, definition.spec)


def jaxvis_run(net, layer, n_units, steps, kind="channel"):
    """``kind``: "channel" (the whole image) or "neuron" (the centre unit: jaxvis
    then computes it on the unit's receptive-field crop of the transformed image, exactly)."""
    import jax

    import jaxvis

    res = jaxvis.visualize(net, [(layer, c) for c in range(n_units)], preset="fourier", restarts=1, seed=0,
                           steps=steps, objective=kind)
    jax.block_until_ready(jax.tree_util.tree_leaves(res.__dict__))
    return res


# ============================================================================== checks

def checks(model, layer, with_jax):
    """Cheap correctness checks of the transcription; raises SystemExit on a failure."""
    def need(ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            raise SystemExit(f"check failed: {what}")

    print("checks:")
    torch.manual_seed(0)
    np.random.seed(0)
    params, image_f = L.image(INPUT, batch=2)
    img = image_f().detach()
    need(tuple(params[0].shape) == (2, 3, INPUT, INPUT // 2 + 2, 2),
         f"fft_image coefficients {tuple(params[0].shape)} (odd width: w//2+2 columns)")
    need(tuple(img.shape) == (2, 3, INPUT, INPUT) and 0 < float(img.min()) and float(img.max()) < 1,
         f"to_valid_rgb(fft_image) {tuple(img.shape)} in (0, 1): [{float(img.min()):.3f}, {float(img.max()):.3f}]")
    x = torch.rand(2, 3, 31, 37)
    same = L.translate(x, torch.tensor([[0.0, 0.0]]))
    need(torch.allclose(same, x, atol=1e-5), "translate by (0, 0) is the identity")
    rot0 = L.random_rotate([0])(x)
    need(torch.allclose(rot0, x, atol=1e-5), "rotate by 0 degrees is the identity")
    ramp = torch.arange(37.0).view(1, 1, 1, 37).expand(1, 1, 31, 37).contiguous()
    moved = L.translate(ramp, torch.tensor([[3.0, 0.0]]))[0, 0, 15, 10:30]
    need(torch.allclose(moved, ramp[0, 0, 15, 10:30] - 3.0 * 37 / 36, atol=1e-4),
         "translate(dx=3) moves content right by 3 W/(W-1) px (kornia 0.4.1's convention)")
    m = L.get_rotation_matrix2d(torch.tensor([[18.0, 15.0]]), torch.tensor([90.0]), torch.ones(1, 2))
    need(torch.allclose(m[0] @ torch.tensor([18.0, 5.0, 1.0]), torch.tensor([8.0, 15.0]), atol=1e-4),
         "rotation +90 deg maps (x, y) = (18, 5) to (8, 15) about (18, 15) (counter-clockwise on screen)")
    chain = L.compose(L.standard_transforms() + [L.caffe_preprocess(),
                                                 torch.nn.Upsample(size=INPUT, mode="bilinear", align_corners=True)])
    sizes = set()
    for s in [1 + (i - 5) / 50.0 for i in range(11)]:
        t = L.compose([L.pad(12, "constant", 0.5), L.random_scale([s])])(img)
        sizes.add(tuple(t.shape[2:]))
    need(all(tuple(chain(img).shape) == (2, 3, INPUT, INPUT) for _ in range(8)),
         f"standard transforms + preprocessing + Upsample give 2x3x{INPUT}x{INPUT} "
         f"(after random_scale: {min(sizes)[0]}..{max(sizes)[0]} px)")
    pre = L.caffe_preprocess()(torch.full((1, 3, 1, 1), 0.5))
    need(torch.allclose(pre.flatten(), torch.tensor([127.5 - v for v in MEAN_BGR])),
         "preprocessing: 0.5 grey -> 127.5 - mean pixel, BGR")
    if with_jax:
        net = jaxvis_caffenet(model)
        xin = np.random.default_rng(1).normal(0, 50, (1, INPUT, INPUT, 3)).astype(np.float32)
        with torch.no_grad():
            ref = torch_nets.run_until(model, torch.from_numpy(xin.transpose(0, 3, 1, 2).copy()), layer)
        got = np.asarray(net.blobs(xin)[layer])
        err = float(np.max(np.abs(got - ref.numpy().transpose(0, 2, 3, 1))) / np.max(np.abs(ref.numpy())))
        need(err < 1e-3, f"torch {layer} == jaxvis {layer} on the same input (max rel err {err:.1e})")
    trace = []
    torch.manual_seed(0)
    np.random.seed(0)
    lucent_run(model, layer, 2, 8, trace=trace)
    need(np.mean(trace[-3:]) < trace[0], f"Lucent loss falls over 8 steps, 2 units: "
         f"{trace[0]:.3f} -> {trace[-1]:.3f} (mean of the last 3: {np.mean(trace[-3:]):.3f})")


# ============================================================================== main

def timed(fn):
    """(wall seconds, share of the CPUs other processes used meanwhile (nan if unknown), fn's result)."""
    busy0, own0 = cpu_seconds()
    t = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t
    busy1, own1 = cpu_seconds()
    others = math.nan if busy0 is None else max(0.0, (busy1 - busy0) - (own1 - own0)) / (os.cpu_count() * wall)
    return wall, others, out


def dense_fp32_rate() -> tuple[float, float]:
    """This CPU's dense FP32 rate in FLOP/s, measured now: the best of 5 timed
    2048^3 matrix products in torch (its threads as set) and in jax.numpy."""
    import jax
    import jax.numpy as jnp

    n = 2048
    a = torch.randn(n, n)
    b = jnp.asarray(a.numpy())
    dot = jax.jit(jnp.dot)
    rates = []
    for fn in (lambda: torch.mm(a, a), lambda: dot(b, b).block_until_ready()):
        rates.append(2 * n**3 / best_time(fn, 5))
    return rates[0], rates[1]


def pct(share):
    return "-" if math.isnan(share) else f"{share:.0%}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", default="1,32", help="comma-separated unit counts U (conv5 channels 0..U-1)")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2, help="untimed torch steps before each timed run")
    ap.add_argument("--layer", default="conv5")
    ap.add_argument("--objective", choices=("channel", "neuron"), default="channel",
                    help="Lucent's objectives.channel (a map's mean) or objectives.neuron (the centre unit)")
    ap.add_argument("--only", choices=("both", "torch", "jaxvis"), default="both")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--freeze", action="store_true",
                    help="torch weights requires_grad=False (a Lucent user who freezes them)")
    ap.add_argument("--check", action="store_true", help="run the transcription's checks first")
    args = ap.parse_args()
    units = [int(v) for v in args.units.split(",") if v]
    if not units or min(units) < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--units must list counts >= 1, --steps >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)
    model = torch_nets.build("caffenet", seed=0)
    if args.freeze:
        model.requires_grad_(False)
    with torch.no_grad():
        channels = torch_nets.run_until(model, torch.zeros(1, 3, INPUT, INPUT), args.layer).shape[1]
    if max(units) > channels:
        ap.error(f"{args.layer} has {channels} channels, fewer than {max(units)} units")
    with_jax = args.only != "torch"
    if with_jax:
        import jax

        dev = jax.devices()[0]
        device = f"{dev.device_kind} ({jax.default_backend()})"
    else:
        device = "jaxvis not run (--only torch)"
    print(f"device: {device}; CPU: {cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"caffenet (torch_nets random weights, seed 0) {args.layer}, {args.objective} objective, "
          f"Fourier + decorrelated {INPUT}x{INPUT} images, {args.steps} steps; torch weights "
          f"{'frozen' if args.freeze else 'requiring grad (as render_vis leaves them)'}")
    if args.check:
        checks(model, args.layer, with_jax)
    net = jaxvis_caffenet(model) if with_jax else None

    lucent_1 = None  # the 1-unit Lucent time, for the one-at-a-time estimate
    rows = []
    for u in units:
        row = {"u": u, "first": math.nan, "run": math.nan, "luc": math.nan, "oa": math.nan, "ob": math.nan,
               "ja": (math.nan, math.nan), "lu": (math.nan, math.nan)}
        if with_jax:
            row["first"], _, res = timed(lambda u=u: jaxvis_run(net, args.layer, u, args.steps, args.objective))
            row["run"], row["oa"], res = timed(lambda u=u: jaxvis_run(net, args.layer, u, args.steps, args.objective))
            trace = np.asarray(res.trace)[:, 0, :]  # [U, steps]: the channel mean at each step
            row["ja"] = (float(trace[:, 0].mean()), float(trace[:, -1].mean()))
            shape = tuple(res.images.shape)
            if shape[2:4] != (INPUT, INPUT):
                print(f"  note: jaxvis images are {shape[2]}x{shape[3]}, Lucent's {INPUT}x{INPUT}")
        if args.only != "jaxvis":
            torch.manual_seed(0)
            np.random.seed(0)
            if args.warmup:
                lucent_run(model, args.layer, u, args.warmup, kind=args.objective)
            losses = []
            row["luc"], row["ob"], _ = timed(
                lambda u=u, losses=losses: lucent_run(model, args.layer, u, args.steps, losses, args.objective))
            row["lu"] = (-losses[0] / u, -losses[-1] / u)  # loss = -(sum of the U channel means)
            if u == 1:
                lucent_1 = row["luc"]
        rows.append(row)
        print(f"  {u} units done", flush=True)
    if args.only != "jaxvis" and lucent_1 is None and any(u > 1 for u in units):
        torch.manual_seed(0)
        np.random.seed(0)
        if args.warmup:
            lucent_run(model, args.layer, 1, args.warmup, kind=args.objective)
        lucent_1, _, _ = timed(lambda: lucent_run(model, args.layer, 1, args.steps, kind=args.objective))

    print(f"{'units':>5s} {'(a) jaxvis 1st':>14s} {'(a) jaxvis':>10s} {'(b) Lucent':>10s} {'(c) 1-by-1 est':>14s} "
          f"{'b/a':>6s} {'c/a':>6s} {'a u-st/s':>8s} {'b u-st/s':>8s} {'others a':>8s} {'others b':>8s}   "
          f"channel mean, step 1 -> {args.steps}: (a) / (b)")
    for r in rows:
        u = r["u"]
        one = u * lucent_1 if lucent_1 is not None else math.nan
        print(f"{u:5d} {r['first']:14.2f} {r['run']:10.2f} {r['luc']:10.2f} {one:14.2f} {r['luc'] / r['run']:6.2f} "
              f"{one / r['run']:6.2f} {u * args.steps / r['run']:8.1f} {u * args.steps / r['luc']:8.1f} "
              f"{pct(r['oa']):>8s} {pct(r['ob']):>8s}   {r['ja'][0]:.2f} -> {r['ja'][1]:.2f} / "
              f"{r['lu'][0]:.2f} -> {r['lu'][1]:.2f}")
    print("seconds. (a) jaxvis 1st: the first call, compile + run; (a): the second call; (b): one hand-batched "
          "render_vis; (c) = units x the 1-unit (b) time, estimated, not run; b/a and c/a: ratios over (a); "
          "u-st/s: unit-steps per second; others: the CPU share other processes used during (a) and (b) "
          "(they slow whichever runs beside them); channel mean: the objective's value (mean over the units) "
          "at the first and last step, on each side's own transformed image")
    if with_jax and args.only == "both":
        ceiling(net, args, rows)


def ceiling(net, args, rows):
    """The most any program doing jaxvis's work could gain over (b) at this CPU's measured dense rate."""
    from accelerator import forward_flops  # benchmarks/accelerator.py (imports jax)

    flops = 2 * forward_flops(net, args.layer, args.objective == "neuron")
    torch_rate, jax_rate = dense_fp32_rate()
    rate = max(torch_rate, jax_rate)
    print(f"ceiling: this CPU's dense FP32 rate, measured now on 2048^3 matrix products: torch {torch_rate / 1e9:.1f}, "
          f"jax.numpy {jax_rate / 1e9:.1f} GFLOP/s. An ascent step needs at least {flops / 1e9:.2f} GFLOP per image "
          f"(XLA's count of the forward to {args.layer} on "
          f"{'the unit crop' if args.objective == 'neuron' else 'the image'}, twice: the input gradient of a "
          f"convolution costs its forward), so no program doing this work at that rate "
          f"runs U units x {args.steps} steps in less than t_min:")
    print(f"{'units':>5s} {'t_min':>8s} {'b/t_min':>8s} {'(a) GFLOP/s':>12s} {'(a) of rate':>11s}")
    for r in rows:
        t_min = r["u"] * args.steps * flops / rate
        achieved = r["u"] * args.steps * flops / r["run"]
        print(f"{r['u']:5d} {t_min:8.2f} {r['luc'] / t_min:8.2f} {achieved / 1e9:12.1f} {achieved / rate:11.0%}")
    print("b/t_min: the largest ratio over (b) that a program doing this work at this CPU's dense rate could reach")


if __name__ == "__main__":
    main()

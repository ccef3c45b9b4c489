"""The Fourier and MaCo families in the ascent: their image and Adam's update
against the same pipeline written in PyTorch (torch.fft, torch.optim.Adam),
the colour statistics against numpy, and a batch mixing families against
each family run alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.optimize import families as FAM
from jaxvis.optimize import fourier as F
from jaxvis.optimize.ascent import NetworkSpace, NewFamilies, Theta, Units, ascend

H, W = 12, 10
RNG = np.random.default_rng(7)
WEIGHT = RNG.normal(size=(H, W, 3)).astype(np.float32)
CURVE = RNG.uniform(-0.01, 0.01, (H, W, 3)).astype(np.float32)
MEAN = np.array([104.0, 117.0, 123.0], np.float32)
STD = np.array([1.0, 2.0, 0.5], np.float32)
MATRIX = np.asarray(F.color_correlation(jnp.asarray(RNG.integers(0, 256, (50, 3)), jnp.uint8)))
MAGNITUDE = RNG.uniform(0.1, 2.0, (3, H, W // 2 + 1)).astype(np.float32)
SCALE = np.asarray(F.spectrum_scale(H, W))


def toy_apply(params, x, until=None):
    return {"toy": (jnp.sum(x * WEIGHT, axis=(1, 2, 3)) + 0.5 * jnp.sum(CURVE * x * x, axis=(1, 2, 3)))[:, None]}


def theta(n, steps, lr):
    z = jnp.zeros((n,), jnp.float32)
    zi = jnp.zeros((n,), jnp.int32)
    return Theta(z, z, zi, z, z, zi, jnp.full((n,), lr, jnp.float32), z, jnp.full((n,), steps, jnp.int32))


def new_families(index, family, transforms, lr, keys):
    return NewFamilies(jnp.asarray(index, jnp.int32), jnp.asarray(family, jnp.int32), jnp.asarray(transforms),
                       jnp.asarray(lr, jnp.float32), keys, jnp.asarray(MATRIX), jnp.asarray(MAGNITUDE),
                       jnp.asarray(SCALE), jnp.asarray(MEAN), jnp.asarray(STD))


SPACE = NetworkSpace(True, 1.0, FAM.robust_sizes(H, W))


def t64(a):
    return torch.tensor(np.asarray(a, np.float64))


def torch_image01(family, v):
    if family == FAM.FOURIER:
        spectrum = torch.complex(v[0], v[1]) * t64(SCALE)
        image = torch.fft.irfft2(spectrum, s=(H, W)).permute(1, 2, 0) @ t64(MATRIX).T
    else:
        image = torch.fft.irfft2(t64(MAGNITUDE) * torch.exp(1j * v[0]), s=(H, W)).permute(1, 2, 0)
        image = image - image.mean()
        image = image / (image.pow(2).mean().sqrt() + 1e-5)
    return torch.sigmoid(image)


def torch_run(family, v0, lr, steps):
    """Adam (maximize) on the toy objective of the untransformed image, in torch."""
    v = torch.tensor(np.asarray(v0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([v], lr=lr, maximize=True)
    trace = []
    for _ in range(steps + 1):
        z = (torch_image01(family, v) * 255.0).flip(-1)
        z = (z - t64(MEAN)) / t64(STD)
        a = (z * t64(WEIGHT)).sum() + 0.5 * (t64(CURVE) * z * z).sum()
        trace.append(a.item())
        opt.zero_grad()
        a.backward()
        opt.step()
    return z.detach().numpy(), trace


@pytest.mark.parametrize("family", [FAM.FOURIER, FAM.MACO], ids=["fourier", "maco"])
def test_new_family_ascent_equals_torch_adam_on_the_same_pipeline(family):
    steps, lr = 6, 0.05
    key = jax.random.key(3)
    v0 = FAM.init_variables(key, family, FAM.variables_shape(H, W), 0.5)[None]
    new = new_families([0], [family], [False], [lr], key[None])
    out = ascend(toy_apply, None, jnp.zeros((1, H, W, 3)), Units(*[jnp.zeros(1, jnp.int32)] * 3),
                 theta(1, steps, lr), -1e9, 1e9, layer="toy", spatial=False, max_steps=steps, radius=0,
                 new=new, v0=v0, space=SPACE)
    # torch steps once more than it reports: its last trace entry is the final image's value
    image, trace = torch_run(family, v0[0], lr, steps)
    np.testing.assert_allclose(out.trace[0], trace[:steps], rtol=2e-4)
    np.testing.assert_allclose(out.final_value[0], trace[steps], rtol=2e-4)
    # the new families keep their final image (no best-of-trajectory)
    assert out.best_step[0] == steps
    np.testing.assert_allclose(np.asarray(out.best_x[0]), image, rtol=1e-3, atol=1e-2)


def test_mixed_batch_equals_each_family_alone():
    """pixel (the paper's step), fourier and maco, transforms on: the same numbers together and apart."""
    steps = 5
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(jnp.arange(3))
    fams = [FAM.FOURIER, FAM.MACO]
    v0 = jnp.stack([FAM.init_variables(keys[i + 1], f, FAM.variables_shape(H, W), 0.3) for i, f in enumerate(fams)])
    x0 = jnp.asarray(RNG.normal(0, 5, (3, H, W, 3)).astype(np.float32))
    th = theta(3, steps, 0.1)._replace(decay=jnp.asarray([0.01, 0.0, 0.0]), lr=jnp.asarray([2.0, 0.1, 0.2]))
    units = Units(*[jnp.zeros(3, jnp.int32)] * 3)
    kw = dict(layer="toy", spatial=False, max_steps=steps, radius=0, space=SPACE)
    together = ascend(toy_apply, None, x0, units, th, -1e9, 1e9,
                      new=new_families([1, 2], fams, [True, True], [0.1, 0.2], keys[1:]), v0=v0, **kw)
    one = jax.tree.map(lambda a: a[:1], th)
    pixel = ascend(toy_apply, None, x0[:1], Units(*[jnp.zeros(1, jnp.int32)] * 3), one, -1e9, 1e9, **kw)
    np.testing.assert_allclose(together.trace[0], pixel.trace[0], rtol=1e-5)
    np.testing.assert_allclose(together.best_x[0], pixel.best_x[0], rtol=1e-5, atol=1e-4)
    for i, f in enumerate(fams):
        th_i = jax.tree.map(lambda a: a[i + 1:i + 2], th)
        alone = ascend(toy_apply, None, x0[i + 1:i + 2], Units(*[jnp.zeros(1, jnp.int32)] * 3), th_i, -1e9, 1e9,
                       new=new_families([0], [f], [True], [[0.1, 0.2][i]], keys[i + 1:i + 2]), v0=v0[i:i + 1], **kw)
        np.testing.assert_allclose(together.trace[i + 1], alone.trace[0], rtol=1e-5)
        np.testing.assert_allclose(together.best_x[i + 1], alone.best_x[0], rtol=1e-5, atol=1e-4)
    assert abs(float(together.trace[1, 0] - together.trace[2, 0])) > 1e-3  # the two families really differ


@pytest.mark.parametrize("family", [FAM.FOURIER, FAM.MACO], ids=["fourier", "maco"])
def test_transforms_change_what_the_network_sees_but_not_the_kept_image(family):
    steps = 3
    key = jax.random.key(5)
    v0 = FAM.init_variables(key, family, FAM.variables_shape(H, W), 0.5)[None]
    kw = dict(layer="toy", spatial=False, max_steps=steps, radius=0, space=SPACE, v0=v0)
    units = Units(*[jnp.zeros(1, jnp.int32)] * 3)
    runs = [ascend(toy_apply, None, jnp.zeros((1, H, W, 3)), units, theta(1, steps, 0.0), -1e9, 1e9,
                   new=new_families([0], [family], [on], [1e-30], key[None]), **kw) for on in (False, True)]
    # lr ~ 0: the image never changes, so the final values agree; the traced values differ by the transforms
    np.testing.assert_allclose(runs[0].final_value, runs[1].final_value, rtol=1e-5)
    assert not np.allclose(runs[0].trace, runs[1].trace, rtol=1e-3)


def test_identity_transform_is_exact_and_sizes_keep_the_input_size():
    for side in (64, 224, 227):
        s = FAM.robust_sizes(side, side)
        assert side + 2 * s.pad - s.jitter - s.final_jitter == side
    assert FAM.robust_sizes(224, 224)[:3] == (12, 20, 4)
    x = jnp.asarray(RNG.uniform(size=(H, W, 3)).astype(np.float32))
    out = FAM.transform(jax.random.key(0), x, False, FAM.robust_sizes(H, W))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(x))


def test_receptive_field_crops_are_exact_for_the_new_families():
    """Transforms first, then the crop of what the network sees: the same numbers as the whole image."""
    from jaxvis.optimize import preset, run_layer
    net = jaxvis.load_model("demo", weights="random", seed=3)
    settings = dict(preset("fourier").to_dict(), steps=3, lr=0.5)
    settings["family"] = np.array(["fourier", "maco"])
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(jnp.arange(2))
    args = (net, "conv2", np.array([1, 5]), np.array([8, 12]), np.array([9, 20]), keys, settings)
    cropped, whole = run_layer(*args, use_crops=True), run_layer(*args, use_crops=False)
    np.testing.assert_allclose(cropped.trace, whole.trace, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cropped.best_x, whole.best_x, rtol=1e-4, atol=1e-3)

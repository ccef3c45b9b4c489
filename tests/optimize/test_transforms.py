"""Each transform against an independent numpy/scipy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from jaxvis.errors import ConfigError
from jaxvis.optimize import transforms as T

FILL = -1.5
KW = {"pad_width": 4, "jitter_px": 6, "final_jitter_px": 3}  # 13 x 11 -> 12 x 10
scale_rotate = jax.jit(T.scale_rotate)  # one compilation per shape, traced scale/angle/fill


@pytest.fixture
def img():
    return np.random.default_rng(0).normal(0, 20, (13, 11, 3)).astype(np.float32)


def ref_scale_rotate(x, scale, angle_deg, fill):
    """scipy's affine_transform per channel. Forward map in (row, col) about the
    centre ((H-1)/2, (W-1)/2): q = c + s R (p - c), with R the counter-clockwise
    (on screen, rows down) rotation [[cos, -sin], [sin, cos]]; scipy wants the
    inverse map output -> input: p = M q + offset."""
    t = np.deg2rad(angle_deg)
    forward = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    m = np.linalg.inv(forward)
    centre = np.array([(x.shape[0] - 1) / 2.0, (x.shape[1] - 1) / 2.0])
    offset = centre - m @ centre
    # "grid-constant": neighbours outside the image count as cval, so the border
    # blends into it; scipy's "constant" instead returns cval for every point
    # outside [0, n-1].
    return np.stack([scipy.ndimage.affine_transform(x[..., c].astype(np.float64), m, offset, order=1,
                                                    mode="grid-constant", cval=fill)
                     for c in range(x.shape[-1])], -1)


def ref_apply(x, p, fill):
    """The numpy/scipy composition pad -> jitter -> scale_rotate -> final jitter (KW's sizes)."""
    h, w = x.shape[0] + 8 - 6, x.shape[1] + 8 - 6
    ref = np.pad(x, ((4, 4), (4, 4), (0, 0)), constant_values=fill)
    ref = ref[p.dy:p.dy + h, p.dx:p.dx + w]  # jitter: the padded size minus jitter_px
    ref = ref_scale_rotate(ref, float(p.scale), float(p.angle_deg), fill)
    return ref[p.dy2:p.dy2 + h - 3, p.dx2:p.dx2 + w - 3]  # final jitter


def test_pad_is_numpy_constant_pad(img):
    got = np.asarray(T.pad(img, 3, FILL))
    np.testing.assert_array_equal(got, np.pad(img, ((3, 3), (3, 3), (0, 0)), constant_values=FILL))
    np.testing.assert_array_equal(np.asarray(T.pad(img, 0, FILL)), img)


def test_jitter_is_numpy_slicing(img):
    crop = jax.jit(T.jitter, static_argnums=(3, 4))
    for dy, dx in [(0, 0), (2, 5), (4, 1)]:
        np.testing.assert_array_equal(np.asarray(crop(img, dy, dx, 9, 6)), img[dy:dy + 9, dx:dx + 6])


@pytest.mark.parametrize("scale, angle", [(1.0, 17.0), (1.1, -8.0), (0.9, 5.0), (1.3, 90.0), (0.7, -130.0)])
def test_scale_rotate_is_scipy_affine_transform(img, scale, angle):
    got = np.asarray(scale_rotate(img, scale, angle, FILL))
    np.testing.assert_allclose(got, ref_scale_rotate(img, scale, angle, FILL), rtol=1e-5, atol=1e-4)


def test_scale_rotate_identity_and_rot90(img):
    np.testing.assert_array_equal(np.asarray(scale_rotate(img, 1.0, 0.0, FILL)), img)
    square = img[:11]
    # Positive angle = counter-clockwise on screen, as np.rot90.
    np.testing.assert_allclose(np.asarray(scale_rotate(square, 1.0, 90.0, FILL)), np.rot90(square),
                               rtol=1e-5, atol=1e-4)
    # 180 degrees of a non-square image: the centre is ((H-1)/2, (W-1)/2).
    np.testing.assert_allclose(np.asarray(scale_rotate(img, 1.0, 180.0, FILL)), img[::-1, ::-1],
                               rtol=1e-5, atol=1e-4)


def dense_matrix(linear, shape):
    """The matrix [out, in] of a linear map of one-channel images of ``shape``,
    column by column from the basis images."""
    columns = []
    for i in range(shape[0] * shape[1]):
        basis = np.zeros(shape + (1,))
        basis.flat[i] = 1.0
        columns.append(linear(basis).ravel())
    return np.stack(columns, axis=1)


def scatter_adjoint(g, scale, angle_deg):
    """numpy float64 transcription of the bilinear resampling's adjoint: each
    output pixel q adds w g(q) to the four neighbours of its source point."""
    h, w = g.shape[:2]
    t = np.deg2rad(angle_deg)
    cos, sin = np.cos(t) / scale, np.sin(t) / scale
    q_r, q_c = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    p_r = cos * (q_r - cy) + sin * (q_c - cx) + cy
    p_c = -sin * (q_r - cy) + cos * (q_c - cx) + cx
    r0, c0 = np.floor(p_r).astype(int), np.floor(p_c).astype(int)
    out = np.zeros((h + 2, w + 2, g.shape[2]))
    for dr, wr in ((0, 1 - (p_r - r0)), (1, p_r - r0)):
        for dc, wc in ((0, 1 - (p_c - c0)), (1, p_c - c0)):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            np.add.at(out, (r[inside], c[inside]), (wr * wc)[inside][:, None] * g[inside])
    return out[:h, :w]


@pytest.mark.parametrize("scale, angle", [(1.0, 17.0), (1.1, -8.0), (0.9, 5.0), (1.3, 90.0), (0.7, -130.0)])
def test_scale_rotate_gradient_is_scipy_adjoint(img, scale, angle):
    """With a reach, the gradient w.r.t. x is computed by gathers (module doc):
    it must be the transpose of scipy's resampling, column by column."""
    a = dense_matrix(lambda b: ref_scale_rotate(b, scale, angle, 0.0), img.shape[:2])
    g = np.random.default_rng(1).normal(size=img.shape).astype(np.float32)
    reach = T.reach_bound([scale], abs(angle))
    got = jax.jit(jax.grad(lambda x: jnp.sum(g * T.scale_rotate(x, scale, angle, FILL, reach=reach))))(img)
    want = np.stack([(a.T @ g[..., c].ravel()).reshape(img.shape[:2]) for c in range(3)], -1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_scale_rotate_gradient_where_points_fall_on_pixel_edges():
    """CaffeNet's 231 px transform size, a drawn scale/angle whose source points
    include some within 1e-5 of a pixel edge (float32 rounding decides their
    floor): the gradient is still the float64 adjoint. (Autodiff's scatter-add
    under jit was measured off by up to 1.45 here: the forward and backward
    rounded such points differently.)"""
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(231, 231, 3)).astype(np.float32)
    g = rng.normal(size=(231, 231, 3)).astype(np.float32)
    scale, angle = np.float32(1.06), np.float32(1.0473561)
    reach = T.reach_bound(T.LUCID_SCALES, T.LUCID_MAX_ANGLE)
    got = jax.jit(jax.grad(lambda x: jnp.sum(g * T.scale_rotate(x, scale, angle, 0.5, reach=reach))))(x)
    np.testing.assert_allclose(np.asarray(got), scatter_adjoint(g, float(scale), float(angle)), atol=2e-4)


def test_random_transform_gradient_is_the_composition_adjoint(img):
    """random_transform's gradient (the gathered path) is the transpose of the
    numpy/scipy composition for the params its key draws."""
    key = jax.random.key(7)
    p = jax.tree.map(np.asarray, jax.jit(lambda k: T.draw_params(k, jitter_px=6, final_jitter_px=3))(key))
    a = dense_matrix(lambda b: ref_apply(b, p, 0.0), img.shape[:2])
    g = np.random.default_rng(3).normal(size=(12, 10, 3)).astype(np.float32)
    got = jax.jit(jax.grad(lambda x: jnp.sum(g * T.random_transform(key, x, fill=FILL, **KW))))(img)
    want = np.stack([(a.T @ g[..., c].ravel()).reshape(img.shape[:2]) for c in range(3)], -1)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_reach_bound():
    assert T.reach_bound([1.0], 0.0) == 1.0
    assert np.isclose(T.reach_bound([0.9, 1.1], 10.0), 1.1 * (np.cos(np.radians(10)) + np.sin(np.radians(10))))
    assert np.isclose(T.reach_bound([1.0], 135.0), np.sqrt(2))


def test_apply_params_is_the_composition(img):
    params = T.TransformParams(dy=5, dx=2, scale=1.08, angle_deg=-7.5, dy2=1, dx2=3)
    # fill traced (a jit argument), as a per-network value may be.
    got = np.asarray(jax.jit(lambda x, p, fill: T.apply_params(x, p, fill=fill, **KW))(img, params, FILL))
    assert got.shape == T.output_shape(img.shape, **KW) == (12, 10, 3)
    np.testing.assert_allclose(got, ref_apply(img, params, FILL), rtol=1e-5, atol=1e-4)


def test_random_transform_per_key_and_deterministic(img):
    keys = jax.random.split(jax.random.key(0), 4)
    batch = jnp.stack([img] * 4)
    f = jax.jit(jax.vmap(lambda k, x: T.random_transform(k, x, fill=FILL, **KW)))
    out = np.asarray(f(keys, batch))
    assert out.shape == (4, 12, 10, 3)
    for i in range(4):
        for j in range(i):
            assert not np.allclose(out[i], out[j])
    again = np.asarray(f(keys[jnp.array([2, 2, 0, 1])], batch))
    np.testing.assert_array_equal(again, out[[2, 2, 0, 1]])
    # Each element is the numpy composition for the params its own key draws.
    params = jax.jit(jax.vmap(lambda k: T.draw_params(k, jitter_px=6, final_jitter_px=3)))(keys)
    for i in range(4):
        p_i = jax.tree.map(lambda v, i=i: np.asarray(v)[i], params)
        np.testing.assert_allclose(out[i], ref_apply(img, p_i, FILL), rtol=1e-5, atol=1e-4)


def test_draw_params_ranges():
    scales = (0.8, 1.0, 1.25)
    keys = jax.random.split(jax.random.key(1), 2000)
    p = jax.jit(jax.vmap(lambda k: T.draw_params(k, jitter_px=8, scales=scales, max_angle_deg=10.0,
                                                 final_jitter_px=4)))(keys)
    p = jax.tree.map(np.asarray, p)
    for v, top in [(p.dy, 8), (p.dx, 8), (p.dy2, 4), (p.dx2, 4)]:
        assert set(v.tolist()) == set(range(top + 1))
    np.testing.assert_allclose(np.unique(p.scale), scales, rtol=1e-6)
    assert p.angle_deg.min() >= -10 and p.angle_deg.max() <= 10
    assert p.angle_deg.min() < -9.5 and p.angle_deg.max() > 9.5
    assert not np.array_equal(p.dy, p.dx) and not np.array_equal(p.dy2, p.dx2)


def test_lucid_defaults():
    assert T.output_shape((224, 224, 3)) == (236, 236, 3)
    p = jax.jit(T.draw_params)(jax.random.key(3))
    assert float(p.scale) in {np.float32(s) for s in T.LUCID_SCALES}
    assert np.isclose(min(T.LUCID_SCALES), 0.9) and np.isclose(max(T.LUCID_SCALES), 1.1)


def test_gradients_flow(img):
    g = jax.jit(jax.grad(lambda x: jnp.sum(T.random_transform(jax.random.key(2), x, fill=FILL, **KW))))(img)
    g = np.asarray(g)
    assert g.shape == img.shape and np.all(np.isfinite(g)) and np.any(g != 0)


@pytest.mark.parametrize("call, name", [
    (lambda x: T.pad(x, -1, 0.0), "pad width"),
    (lambda x: T.jitter(x, 0, 0, 14, 5), "out_h"),
    (lambda x: T.jitter(x, 0, 0, 5, 0), "out_w"),
    (lambda x: T.random_transform(jax.random.key(0), x, pad_width=-2), "pad_width"),
    (lambda x: T.random_transform(jax.random.key(0), x, pad_width=1, jitter_px=13), "jitter_px"),
    (lambda x: T.random_transform(jax.random.key(0), x, jitter_px=-1), "jitter_px"),
    (lambda x: T.random_transform(jax.random.key(0), x, pad_width=1, jitter_px=4, final_jitter_px=9),
     "final_jitter_px"),
    (lambda x: T.random_transform(jax.random.key(0), x, scales=()), "scales"),
    (lambda x: T.random_transform(jax.random.key(0), x, scales=(1.0, 0.0)), "scales"),
    (lambda x: T.random_transform(jax.random.key(0), x, scales=(1.0, -0.5)), "scales"),
    (lambda x: T.random_transform(jax.random.key(0), x, scales=(float("nan"),)), "scales"),
    (lambda x: T.random_transform(jax.random.key(0), x, max_angle_deg=-1.0), "max_angle_deg"),
    (lambda x: T.apply_params(x, None, pad_width=1.5), "pad_width"),
])
def test_config_errors_name_the_argument(img, call, name):
    with pytest.raises(ConfigError, match=name):
        call(img)

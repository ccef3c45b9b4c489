"""The projection API on the shipped demo network: batching, errors, the
renderings, and that projections point at the generated object."""

import numpy as np
import pytest
import scipy.ndimage

import jaxvis
from jaxvis.data import shapes
from jaxvis.errors import ConfigError, InputImageError, UnitError
from jaxvis.render import render_projection as render


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo")


@pytest.fixture(scope="module")
def world(demo):
    samples = [shapes.make_sample(777, i) for i in range(16)]
    return demo.preprocess(np.stack([s.image for s in samples])), np.stack([s.mask for s in samples])


def test_batch_equals_one_by_one(demo, world):
    x, _ = world
    channels, at = [3, 17, 40], [(4, 5), (8, 8), (12, 2)]
    together = jaxvis.project(demo, x[:3], "conv5", channels, at=at, mode="guided")
    for i in range(3):
        alone = jaxvis.project(demo, x[i:i + 1], "conv5", channels[i], at=at[i], mode="guided")
        np.testing.assert_allclose(together[i], alone[0], rtol=1e-5, atol=1e-6 * np.abs(alone).max())


def test_projections_point_at_the_object(demo, world):
    """Energy (per-pixel L2 norm) of the strongest conv5 unit's deconv lies
    on the object's ground-truth mask more than its share of the image."""
    x, masks = world
    conv5 = np.asarray(demo.blobs(x, until="conv5")["conv5"])
    y, xx, c = np.unravel_index(conv5.reshape(len(x), -1).argmax(1), conv5.shape[1:])
    img = jaxvis.project(demo, x, "conv5", c, at=np.stack([y, xx], 1), mode="deconv")
    energy = np.sqrt((img.astype(np.float64) ** 2).sum(-1))
    inside = (energy * masks).sum((1, 2)) / energy.sum((1, 2))
    assert inside.mean() > 1.5 * masks.mean()


def test_renderings(demo, world):
    x, _ = world
    v = jaxvis.project(demo, x[:2], "conv3", 5, mode="deconv")
    raw = render(v, "raw")
    assert raw.shape == (2, 64, 64, 3) and raw.dtype == np.uint8
    # raw: 0 -> grey (127.5 rounds to 128), the largest |v| -> 0 or 255, BGR -> RGB
    b = int(np.abs(v[0]).argmax())
    iy, ix, ic = np.unravel_index(b, v[0].shape)
    assert raw[0, iy, ix, 2 - ic] in (0, 255)
    gray, norm, normblur = (render(v, how) for how in ("gray", "norm", "normblur"))
    for pic in (gray, norm, normblur):
        assert pic.shape == (2, 64, 64) and pic.min() == 0 and pic.max() == 255
    expected = scipy.ndimage.gaussian_filter(np.sqrt((v[1].astype(np.float64) ** 2).sum(-1)), 4.0)
    expected = 255 * (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(normblur[1], expected, atol=1.01)
    with pytest.raises(ConfigError, match="unknown rendering"):
        render(v, "sepia")


def test_bad_requests_are_clear(demo, world):
    x, _ = world
    with pytest.raises(ConfigError, match="projection mode 'deconvnet'; expected one of backprop, deconv, guided"):
        jaxvis.project(demo, x[:1], "conv5", 0, mode="deconvnet")
    with pytest.raises(UnitError, match=r"channels 0\.\.47, got 48"):
        jaxvis.project(demo, x[:1], "conv5", 48)
    with pytest.raises(UnitError, match=r"y in 0\.\.15, x in 0\.\.15; got \(16, 3\)"):
        jaxvis.project(demo, x[:1], "conv5", 0, at=(16, 3))
    with pytest.raises(UnitError, match="fully connected .* no spatial map"):
        jaxvis.project(demo, x[:1], "fc7", 0, at=(0, 0))
    with pytest.raises(UnitError, match="has no layer 'conv9'"):
        jaxvis.project(demo, x[:1], "conv9", 0)
    with pytest.raises(InputImageError, match=r"expects input \[B, 64, 64, 3\]"):
        jaxvis.project(demo, x[:1, :32], "conv5", 0)


def test_ones_seed_on_a_map_is_the_gradient_of_the_channel_sum(demo):
    """seed_with="ones" over a whole conv channel: backprop equals jax.grad of
    the channel's sum, computed here with plain autodiff (no jaxvis rules), on
    noise images (no flat regions: no ties in max pooling, where the switches
    and JAX's gradient part ways)."""
    import jax

    x = np.random.default_rng(3).normal(0, 60, (2, 64, 64, 3)).astype(np.float32)
    got = jaxvis.project(demo, x, "conv3", 5, mode="backprop", seed_with="ones")
    want = jax.grad(lambda v: demo.apply(demo.params, v, until="conv3")["conv3"][..., 5].sum())(x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * float(np.abs(want).max()))

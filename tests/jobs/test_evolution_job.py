"""``jaxvis evolution`` on two small checkpoints (the shipped demo and a
random-weight demo saved as jaxvis model directories): figure sizes, the
strongest probe image's projection, and conv1 filters as images."""

import os

import numpy as np
import pytest

import jaxvis
from configs import evolution_demo
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.errors import JaxvisError
from jaxvis.jobs import gallery
from jaxvis.jobs.evolution_job import filter_images, run_evolution, strongest_projection
from jaxvis.weights import checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "evolution"
    for name, weights in (("epoch_001", "random"), ("epoch_002", None)):
        net = jaxvis.load_model("demo", weights=weights)
        checkpoint.save(str(root / name), "demo", net.params, net.spec)
    return str(root)


def test_figures(run_dir, tmp_path):
    c = evolution_demo.get_config()
    c.evolution_dir, c.layers, c.units_per_layer, c.images, c.min_size = run_dir, ("conv1", "conv5"), 2, 40, 0
    summary = run_evolution(c, str(tmp_path / "ev"))
    assert summary["checkpoints"] == ["epoch_001", "epoch_002"]
    conv1 = gallery.read_png(os.path.join(tmp_path, "ev", "evolution_conv1.png"))
    assert conv1.shape[:2] == (2 * 5 + 4, 2 * 5 + 2)  # 2 units x 2 checkpoints of 5x5 fields
    filters = gallery.read_png(os.path.join(tmp_path, "ev", "filters_conv1.png"))
    assert filters.shape[:2] == (8 * (2 * 5 + 4), 8 * (16 * 6 - 1))


def test_strongest_projection_is_the_top1_patch():
    net = jaxvis.load_model("demo")
    images, _ = GeneratedImages(781, 30).batch(0, 30)
    out = strongest_projection(net, images, "conv3", [4])
    blobs = np.asarray(net.blobs(net.preprocess(images))["conv3"])[..., 4]
    i = int(np.argmax(blobs.reshape(30, -1).max(1)))
    y, x = np.unravel_index(np.argmax(blobs[i]), blobs[i].shape)
    v = np.asarray(jaxvis.project(net, net.preprocess(images[i:i + 1]), "conv3", 4, at=(y, x), mode="deconv"))[0]
    # demo conv3's receptive field from its layers (conv1 5x5/1 pad 2, pool1 3x3/2, conv2
    # 5x5/1 pad 2, pool2 3x3/2, conv3 3x3/1 pad 1): 27 px, 4 px apart, unit 0 from pixel -10.
    y0, x0, size = 4 * y - 10, 4 * x - 10, 27
    rows, cols = np.nonzero(np.abs(v).sum(-1))
    assert rows.size and y0 <= rows.min() and rows.max() < y0 + size and x0 <= cols.min() and cols.max() < x0 + size
    # Raw rendering by hand: 0 -> 127.5, +-max|v| -> 255/0, BGR -> RGB; grey 128 outside the image.
    picture = np.round(127.5 + 127.5 * v / np.abs(v).max()).astype(np.uint8)[..., ::-1]
    padded = np.pad(picture, ((size, size), (size, size), (0, 0)), constant_values=128)
    expect = padded[size + y0:size + y0 + size, size + x0:size + x0 + size]
    assert out.shape == (1, size, size, 3)
    np.testing.assert_array_equal(out[0], expect)


def test_filters_are_the_kernels_scaled():
    net = jaxvis.load_model("demo")
    f = filter_images(net, "conv1")
    k = np.asarray(net.params["conv1"]["kernel"])[..., ::-1, 3]  # filter 3, BGR -> RGB
    expect = np.round(255 * (k - k.min()) / (k.max() - k.min()))
    np.testing.assert_array_equal(f[3], expect.astype(np.uint8))


def test_missing_checkpoints_are_a_clear_error(tmp_path):
    c = evolution_demo.get_config()
    c.evolution_dir = str(tmp_path / "none")
    with pytest.raises(JaxvisError, match="jaxvis train --config=configs/demo_train.py"):
        run_evolution(c, str(tmp_path / "ev"))

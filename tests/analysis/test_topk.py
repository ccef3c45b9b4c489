"""The streamed top-9 against a brute-force numpy computation over every
blob of a tiny image set, and receptive-field patches against hand-cut ones."""

import numpy as np
import pytest

import jaxvis
from jaxvis.analysis import topk
from jaxvis.analysis.sources import GeneratedImages

LAYERS = ("conv2", "conv5", "fc7")


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo")


def test_streamed_top9_equals_brute_force(demo):
    source = GeneratedImages(seed=5, count=23)
    tops = {l: topk.empty(demo.layer(l).channels, 9) for l in LAYERS}
    for lo in range(0, 23, 7):  # batches of 7, 7, 7, 2: the merge crosses batches
        hi = min(lo + 7, 23)
        images, valid = source.batch(lo, hi)
        maxima = topk.channel_maxima(demo, demo.preprocess(images), LAYERS)
        for l in LAYERS:
            tops[l] = topk.merge(tops[l], *maxima[l], np.arange(lo, hi), valid)
    images, _ = source.batch(0, 23)
    blobs = {k: np.asarray(v) for k, v in demo.blobs(demo.preprocess(images)).items()}
    for l in LAYERS:
        b = blobs[l]
        flat = b.reshape(23, -1, b.shape[-1]) if b.ndim == 4 else b[:, None, :]
        per_image = flat.max(axis=1)  # [23, C]
        where = flat.argmax(axis=1)
        for c in range(b.shape[-1]):
            expect = sorted(range(23), key=lambda i: (-per_image[i, c], i))[:9]
            assert list(tops[l]["image"][c]) == expect, (l, c)
            np.testing.assert_allclose(tops[l]["value"][c], per_image[expect, c], rtol=1e-5)
            if b.ndim == 4:
                ys, xs = np.divmod(where[expect, c], b.shape[2])
                assert list(tops[l]["y"][c]) == list(ys) and list(tops[l]["x"][c]) == list(xs), (l, c)


def test_invalid_images_never_enter_and_empty_slots_come_last():
    top = topk.empty(2, 3)
    values = np.array([[5.0, 1.0], [9.0, 2.0]], np.float32)
    locs = np.zeros((2, 2, 2), np.int32)
    top = topk.merge(top, values, locs, np.array([10, 11]), np.array([True, False]))
    assert top["image"].tolist() == [[10, -1, -1], [10, -1, -1]]
    top = topk.merge(top, np.array([[5.0, 3.0]], np.float32), locs[:1], np.array([4]))
    assert top["image"].tolist() == [[4, 10, -1], [4, 10, -1]]  # a tie goes to the earlier image


def test_patch_is_the_receptive_field_padded_at_borders(demo):
    image = np.arange(64 * 64 * 3, dtype=np.int64).reshape(64, 64, 3)
    info = demo.layer("conv1")  # 5x5 stride-1 conv, pad 2: unit (y, x) sees rows y-2..y+2
    np.testing.assert_array_equal(topk.patch(image, info, 10, 20), image[8:13, 18:23])
    corner = topk.patch(image, info, 0, 63, fill=-1)
    assert corner.shape == (5, 5, 3)
    assert (corner[:2] == -1).all() and (corner[:, 3:] == -1).all()
    np.testing.assert_array_equal(corner[2:, :3], image[0:3, 61:64])
    assert topk.patch(image, demo.layer("fc7"), 0, 0) is image

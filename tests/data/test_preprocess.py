"""Preprocessing conventions: Caffe's BGR/0..255/mean, torchvision's RGB/[0,1]/mean/std,
the resize + centre-crop pipeline, and clear errors for unusable images."""

import numpy as np
import pytest
from PIL import Image

import jaxvis
from jaxvis.errors import InputImageError


@pytest.fixture(scope="module")
def caffenet():
    return jaxvis.load_model("caffenet")


def test_caffe_convention(caffenet, rgb_images):
    img = rgb_images(2, 227, 227)
    x = caffenet.preprocess(img)
    expected = img[..., ::-1].astype(np.float32) - np.array([104.007, 116.669, 122.679], np.float32)
    np.testing.assert_allclose(x, expected, atol=1e-4)
    np.testing.assert_array_equal(caffenet.deprocess(x), img)


def test_torchvision_convention(rgb_images):
    net = jaxvis.load_model("torchvision_alexnet")
    img = rgb_images(1, 224, 224)
    x = net.preprocess(img)
    expected = (img / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x, expected, atol=1e-5)
    np.testing.assert_array_equal(net.deprocess(x), img)


def test_other_sizes_are_resized_then_centre_cropped(caffenet, rgb_images):
    img = rgb_images(1, 300, 400)
    warped = np.asarray(Image.fromarray(img[0]).resize((256, 256), Image.Resampling.BILINEAR))
    crop = warped[14:241, 14:241]  # (256 - 227) // 2 = 14
    np.testing.assert_array_equal(caffenet.deprocess(caffenet.preprocess(img))[0], crop)
    single = caffenet.preprocess(img[0])  # [H, W, 3] gains a batch axis
    assert single.shape == (1, 227, 227, 3)


def test_bad_images_get_clear_errors(caffenet):
    with pytest.raises(InputImageError, match="uint8.*float32.*astype"):
        caffenet.preprocess(np.zeros((1, 227, 227, 3), np.float32))
    with pytest.raises(InputImageError, match=r"\[B, H, W, 3\].*\(1, 227, 227, 4\)"):
        caffenet.preprocess(np.zeros((1, 227, 227, 4), np.uint8))
    with pytest.raises(InputImageError, match="grayscale"):
        caffenet.preprocess(np.zeros((227, 227), np.uint8))
    with pytest.raises(InputImageError, match=r"expects input \[B, 227, 227, 3\]"):
        caffenet.blobs(np.zeros((1, 224, 224, 3), np.float32))

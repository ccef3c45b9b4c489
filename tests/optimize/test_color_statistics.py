"""Colour statistics are declared, never guessed (optimize/families.py):
``PreprocessSpec.color_statistics`` names them ("imagenet", "demo_world",
"folder:PATH", a 3x3 matrix); an undeclared network takes them from the
job's image folder, else identity colours with a warning, whatever its
class count. Estimates are checked against numpy's covariance SVD and FFT
of the same images, computed here."""

import dataclasses
import logging

import numpy as np
import pytest
from PIL import Image

import jaxvis
from jaxvis.errors import ConfigError
from jaxvis.optimize import families as FAM


def numpy_statistics(images):
    """Lucid's colour matrix (sqrt of the covariance's SVD, largest column norm 1, signs fixed as
    fourier.color_correlation fixes them) and the mean amplitude spectrum, by numpy."""
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    u, s, _ = np.linalg.svd(np.cov(pixels, rowvar=False))
    m = u * np.sqrt(s / s[0])
    m = m * np.sign(m[np.argmax(np.abs(m), axis=0), range(3)])
    spectra = np.abs(np.fft.rfft2(np.moveaxis(images / 255.0, -1, 1), axes=(-2, -1))).mean(0)
    return m, spectra


def undeclared(net):
    return dataclasses.replace(net, spec=dataclasses.replace(net.spec, color_statistics=None))


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo", weights="random", seed=0)


@pytest.fixture
def folder(tmp_path, rgb_images):
    images = rgb_images(6, 64, 64, seed=4)
    images[..., 0] = images[..., 1] // 2 + images[..., 0] // 2  # correlated channels: the matrix is not the identity
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / f"img_{i}.png")
    return tmp_path, images


def test_the_demo_networks_declare_the_demo_world_and_get_numpys_statistics(demo):
    from jaxvis.data import shapes
    assert demo.spec.color_statistics == "demo_world"  # the shipped networks too
    assert jaxvis.load_model("demo_b").spec.color_statistics == "demo_world"
    stats = FAM.color_statistics(demo)
    images, _ = shapes.make_batch(FAM.DEMO_WORLD_SEED, 0, FAM.STATISTICS_IMAGES, 64)
    m, spectra = numpy_statistics(images)
    np.testing.assert_allclose(np.asarray(stats.matrix), m, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.asarray(stats.magnitude), spectra, rtol=1e-3, atol=1e-3)
    assert "demo world" in stats.source


def test_imagenet_networks_declare_lucids_matrix():
    for name in ("caffenet", "torchvision_alexnet"):
        net = jaxvis.load_model(name, weights="random", seed=0)
        assert net.spec.color_statistics == "imagenet"
        stats = FAM.color_statistics(net)
        want = FAM.IMAGENET_COLOR_SVD_SQRT / np.linalg.norm(FAM.IMAGENET_COLOR_SVD_SQRT, axis=0).max()
        np.testing.assert_allclose(np.asarray(stats.matrix), want, rtol=1e-6)
        assert "ImageNet" in stats.source


def test_a_1000_class_network_that_declares_nothing_gets_identity_and_a_warning(caplog):
    net = undeclared(jaxvis.load_model("torchvision_alexnet", weights="random", seed=0))
    assert net.layer(net.class_layer).channels == 1000
    with caplog.at_level(logging.WARNING, logger="jaxvis"):
        stats = FAM.color_statistics(net)
    np.testing.assert_array_equal(np.asarray(stats.matrix), np.eye(3))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert "color_statistics='imagenet'" in warnings[0].getMessage() and net.name in warnings[0].getMessage()


def test_a_declared_matrix_is_used_normalised(demo):
    given = ((0.5, 0.1, 0.0), (0.4, 0.0, -0.2), (0.45, -0.1, 0.1))
    net = dataclasses.replace(demo, spec=dataclasses.replace(demo.spec, color_statistics=given))
    stats = FAM.color_statistics(net)
    np.testing.assert_allclose(np.asarray(stats.matrix), np.array(given) / np.linalg.norm(given, axis=0).max(),
                               rtol=1e-6)
    assert stats.magnitude.shape == (3, 64, 33)


def test_a_declared_folder_and_the_jobs_folder_are_estimated_from_their_images(demo, folder):
    path, images = folder
    m, spectra = numpy_statistics(images)
    declared = dataclasses.replace(demo, spec=dataclasses.replace(demo.spec, color_statistics=f"folder:{path}"))
    for stats in (FAM.color_statistics(declared), FAM.color_statistics(undeclared(demo), job_folder=str(path))):
        np.testing.assert_allclose(np.asarray(stats.matrix), m, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(np.asarray(stats.magnitude), spectra, rtol=1e-3, atol=1e-3)
        assert str(path) in stats.source
    # a declaration wins over the job's folder
    assert "demo world" in FAM.color_statistics(demo, job_folder=str(path)).source


@pytest.mark.parametrize("value", ["imagenet1k", "folder:", ((1, 0), (0, 1)), ((0,) * 3,) * 3, 7])
def test_a_spec_refuses_what_is_not_colour_statistics(value):
    with pytest.raises(ConfigError, match="color_statistics"):
        jaxvis.PreprocessSpec((32, 32), color_statistics=value)


def test_a_declared_matrix_survives_the_model_directory(demo, tmp_path):
    given = [[0.5, 0.1, 0.0], [0.4, 0.0, -0.2], [0.45, -0.1, 0.1]]
    net = dataclasses.replace(demo, spec=dataclasses.replace(demo.spec, color_statistics=given))
    jaxvis.save_model(net, tmp_path / "m")
    again = jaxvis.load_model(tmp_path / "m")
    assert again.spec.color_statistics == tuple(map(tuple, given))

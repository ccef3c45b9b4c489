"""A folder source takes only files with an image suffix (any case), passes
over other files silently, and skips (counts, warns about) only image files
that do not decode; the occlusion job reports the same count."""

import logging
import warnings

import numpy as np
import pytest
from PIL import Image

import jaxvis
from configs import occlusion_demo
from jaxvis.analysis.sources import FolderImages
from jaxvis.data import shapes
from jaxvis.errors import ConfigError
from jaxvis.jobs.occlusion_job import run_occlusion

VALID = {"a.png": 1, "b/c.PNG": 2, "d.Jpeg": 3}  # file: demo-world image index (64x64, the demo's input size)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    (root / "b").mkdir(parents=True)
    for name, i in VALID.items():
        kind = "JPEG" if name.lower().endswith(".jpeg") else "PNG"
        Image.fromarray(shapes.make_sample(5, i).image).save(root / name, format=kind, quality=100, subsampling=0)
    (root / "notes.txt").write_text("not an image")
    (root / "README").write_text("not an image either")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_only_image_files_and_only_undecodable_ones_skipped(folder, caplog):
    net = jaxvis.load_model("demo")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        source = FolderImages(str(folder), net)
        images, valid = source.batch(0, len(source))
    names = [source.name(i) for i in range(len(source))]
    assert names == ["a.png", "b/c.PNG", "broken.png", "d.Jpeg"]
    assert valid.tolist() == [True, True, False, True] and source.skipped == {2}
    for j, name in enumerate(["a.png", "b/c.PNG"]):  # lossless: the pixels as drawn
        np.testing.assert_array_equal(images[j], shapes.make_sample(5, VALID[name]).image)
    jpeg_error = np.abs(images[3].astype(int) - shapes.make_sample(5, 3).image).mean()
    assert jpeg_error < 2  # quality 100, no chroma subsampling
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert len(caught) == 1 and "broken.png" in str(caught[0].message)
    assert not [m for m in messages if "notes.txt" in m or "README" in m]


def test_a_folder_without_image_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ConfigError, match="is empty: no file under it ends in an image suffix"):
        FolderImages(str(tmp_path), jaxvis.load_model("demo"))


def test_occlusion_job_counts_the_undecodable_image_only(folder, tmp_path):
    c = occlusion_demo.get_config()
    c.source, c.stride, c.size = str(folder), 26, 26
    with pytest.warns(UserWarning, match="broken.png"):
        info = run_occlusion(c, str(tmp_path / "occ"))
    assert (info["images"], info["skipped"]) == (3, 1)

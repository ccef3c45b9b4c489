"""Δ's pieces against direct computations, and the job on a tiny set."""

import json
import os

import numpy as np
import pytest

from configs import correspondence_demo
from jaxvis.analysis import correspondence as C
from jaxvis.errors import JaxvisError
from jaxvis.jobs.correspondence_job import run_correspondence


def test_sign_hamming_over_pairs():
    eps = np.array([[1.0, -2.0, 0.0, 3.0], [1.0, 2.0, 0.0, -1.0], [0.0, -1.0, 0.0, 2.0]])
    # pairs (0,1): signs differ at 2 of 4; (0,2): at 1; (1,2): at 3
    np.testing.assert_allclose(C.sign_hamming(eps), [0.5, 0.25, 0.75])


def test_boxes():
    image = np.zeros((8, 8, 3), np.uint8)
    out = C.occlude_box(image, C.centred_box(1.0, 6.0, 4), (9, 8, 7))
    assert out[0:4, 4:8].tolist() == [[[9, 8, 7]] * 4] * 4 and out.sum() == 16 * 24
    mask = np.zeros((8, 8), bool)
    mask[5, 2] = True
    assert C.random_box(np.random.default_rng(0), (2, 2), (8, 8), mask) == (4.5, 1.5, 6.5, 3.5)


def test_small_run_and_bad_part(tmp_path):
    c = correspondence_demo.get_config()
    c.parts, c.images_per_part = ("arrow:tip", "heart:point"), 3
    table = run_correspondence(c, str(tmp_path / "c"))
    assert set(table) == {"arrow:tip", "heart:point"} and table["arrow:tip"]["images"] == 3
    assert json.load(open(os.path.join(tmp_path, "c", "correspondence.json"))) == table
    for row in table.values():
        for key in ("part_relu5", "random_relu5", "part_relu7", "random_relu7"):
            mean, std = row[key]
            assert 0 <= mean <= 1 and std >= 0
    c.parts = ("arrow:nose",)
    with pytest.raises(JaxvisError, match="class 'arrow' has no part 'nose'; its parts: tip, tail"):
        run_correspondence(c, str(tmp_path / "d"))


def test_parts_file_for_your_own_images(tmp_path):
    from PIL import Image

    from jaxvis.data import shapes

    boxes = {}
    for i in range(3):
        s = shapes.make_sample(12, i)
        Image.fromarray(s.image).save(tmp_path / f"img{i}.png")
        y0, x0, y1, x1 = s.box
        boxes[f"img{i}.png"] = [y0, x0, (y0 + y1) // 2, (x0 + x1) // 2]
    (tmp_path / "parts.json").write_text(json.dumps({"upper left": boxes}))
    c = correspondence_demo.get_config()
    c.parts_file = str(tmp_path / "parts.json")
    table = run_correspondence(c, str(tmp_path / "w"))
    assert list(table) == ["upper left"] and table["upper left"]["images"] == 3
    (tmp_path / "bad.json").write_text(json.dumps({"nose": {"img0.png": [1, 2, 3, 4]}}))
    c.parts_file = str(tmp_path / "bad.json")
    with pytest.raises(JaxvisError, match="part 'nose' .* needs at least two images"):
        run_correspondence(c, str(tmp_path / "w2"))

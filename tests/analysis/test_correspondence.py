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


def delta_by_hand(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """Zeiler & Fergus's Δ from two blobs [N, ...]: ε_i = x_i − x̃_i; for every pair
    i ≠ j the fraction of features whose signs of ε differ; (mean, std) over pairs."""
    eps = (before.astype(np.float64) - after.astype(np.float64)).reshape(len(before), -1)
    signs = np.sign(eps)
    d = [np.count_nonzero(signs[i] != signs[j]) / eps.shape[1]
         for i in range(len(eps)) for j in range(len(eps)) if i != j]
    return float(np.mean(d)), float(np.std(d))  # each unordered pair twice: same mean and std


def test_small_run_and_bad_part(tmp_path):
    import jaxvis
    from jaxvis.data import shapes

    c = correspondence_demo.get_config()
    c.parts, c.images_per_part = ("arrow:tip", "heart:point"), 3
    table = run_correspondence(c, str(tmp_path / "c"))
    assert set(table) == {"arrow:tip", "heart:point"} and table["arrow:tip"]["images"] == 3
    assert json.load(open(os.path.join(tmp_path, "c", "correspondence.json"))) == table
    # Δ recomputed from the blobs of the originals and the occluded images: the
    # first 3 generated images of each class, a 10-px square of the model's mean
    # colour centred on the part, and at a random pixel of the object.
    net = jaxvis.load_model("demo")
    fill = C.mean_colour(net.spec)
    rng = np.random.default_rng(c.random_seed)
    for name in c.parts:
        cls, part = name.split(":")
        samples = [s for s in (shapes.make_sample(c.shapes_seed, i) for i in range(150))
                   if shapes.CLASSES[s.label] == cls][:3]
        images = np.stack([s.image for s in samples])
        boxes = [C.centred_box(*s.parts[part], c.size) for s in samples]
        shuffled = [C.random_box(rng, (b[2] - b[0], b[3] - b[1]), images.shape[1:3], s.mask)
                    for b, s in zip(boxes, samples)]
        for kind, bs in (("part", boxes), ("random", shuffled)):
            occluded = np.stack([C.occlude_box(im, b, fill) for im, b in zip(images, bs)])
            assert np.all((occluded != images).any(-1).sum((1, 2)) > 0)
            before, after = net.blobs(net.preprocess(images)), net.blobs(net.preprocess(occluded))
            for layer in c.layers:
                expect = delta_by_hand(np.asarray(before[layer]), np.asarray(after[layer]))
                np.testing.assert_allclose(table[name][f"{kind}_{layer}"], expect, rtol=0, atol=1e-3,
                                           err_msg=f"{name} {kind} {layer}")
    # The numbers tell part from random occlusion somewhere (not a constant).
    assert len({round(v[0], 4) for row in table.values() for k, v in row.items() if k != "images"}) > 1
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

"""``jaxvis occlusion`` end to end on 4 generated images: files, links, the
pointing game recomputed from the per-image records and ground truth."""

import json
import os
import re

import numpy as np
import pytest

from configs import occlusion_demo
from jaxvis.analysis.occlusion import occluder
from jaxvis.data import shapes
from jaxvis.errors import JaxvisError
from jaxvis.jobs.occlusion_job import run_occlusion


def test_small_run(tmp_path):
    c = occlusion_demo.get_config()
    c.images, c.chunk_images, c.stride = 4, 3, 8
    workdir = str(tmp_path / "occ")
    info = run_occlusion(c, workdir)
    assert (info["images"], info["chunks_run"], info["judged"]) == (4, 2, 4)
    inside = []
    for i in range(4):
        meta = json.load(open(os.path.join(workdir, "images", f"{i:05d}", "meta.json")))
        sample = shapes.make_sample(778, i)
        assert meta["label"] == sample.label and meta["box"] == list(sample.box)
        cy, cx = meta["most_sensitive"]
        y0, x0, y1, x1 = sample.box
        inside.append(y0 <= cy < y1 and x0 <= cx < x1)
        assert meta["grid"] == [8, 8]  # 12-px squares every 8 px on 64 px: 0, 8, ..., 48, 52
    assert info["pointing_game"] == pytest.approx(np.mean(inside))
    text = open(os.path.join(workdir, "index.html")).read()
    for link in re.findall(r"(?:href|src)='([^']+)'", text):
        assert os.path.isfile(os.path.join(workdir, link)), link


def test_occluder_fills():
    import jaxvis

    net = jaxvis.load_model("demo")
    assert not occluder(net, 5, "mean").any()
    noise = occluder(net, 5, "noise")
    pixels = noise[..., ::-1] + net.spec.mean_array()[::-1]  # back to RGB pixel values
    assert noise.shape == (5, 5, 3) and pixels.min() >= 0 and pixels.max() <= 255 and pixels.std() > 40
    with pytest.raises(JaxvisError, match="unknown occluder fill 'blur'"):
        occluder(net, 5, "blur")

"""The jobs on a vision transformer (examples/tiny_vit.py, a token network
through its plugin path): ``jaxvis topk`` ranks the patch tokens and the
class token as their own unit sets and draws whole images under the
channel's patch map (no crops), refuses deconv before it streams; the
visualize job's scored unit pages record patch positions and whole-image
top-9 pictures. Values are checked against the blobs indexed by hand."""

import json
import os
import re

import numpy as np
import pytest

import jaxvis
from configs import topk_demo
from jaxvis.analysis import topk
from jaxvis.data import shapes
from jaxvis.jobs.topk_job import run_topk
from jaxvis.jobs.visualize_job import job_config

PLUGIN = "examples.tiny_vit:make_net"


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model(PLUGIN)


def topk_config(**kw):
    c = topk_demo.get_config()
    c.model, c.layers, c.images, c.batch, c.k, c.mode, c.units_per_layer = PLUGIN, ("block1",), 32, 16, 3, \
        "backprop", 2
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("topk_vit") / "run")
    return workdir, run_topk(topk_config(), workdir)


def test_topk_ranks_patch_tokens_and_the_class_token(net, ran):
    workdir, info = ran
    assert info["images"] == 32 and info["chunks_run"] == 2  # block1 and block1@token0, 2 channels each
    images, _ = shapes.make_batch(777, 0, 32)
    blob = np.asarray(net.blobs(net.preprocess(images))["block1"])  # [32, 17, 32]
    patches = blob[:, 1:].reshape(32, 4, 4, -1)
    for unit_set, values in (("block1", patches.max(axis=(1, 2))), ("block1@token0", blob[:, 0])):
        for c in (0, 1):
            meta = json.load(open(os.path.join(workdir, "units", unit_set, f"{c:04d}", "meta.json")))
            want = np.argsort(-values[:, c], kind="stable")[:3]
            assert [e["image"] for e in meta["entries"]] == want.tolist(), (unit_set, c)
            np.testing.assert_allclose([e["value"] for e in meta["entries"]], values[want, c], rtol=1e-5)
            assert meta["blob"] == "block1" and meta["token"] == (None if unit_set == "block1" else 0)
    meta = json.load(open(os.path.join(workdir, "units", "block1", "0001", "meta.json")))
    first = meta["entries"][0]
    arg = int(np.argmax(patches[first["image"], :, :, 1]))
    assert (first["y"], first["x"]) == divmod(arg, 4)
    page = open(os.path.join(workdir, "units", "block1@token0", "0000", "index.html")).read()
    assert "every token sees the whole image" in page and "token 0 (a prefix token)" in page
    assert not os.path.exists(os.path.join(workdir, "units", "block1", "0002"))  # units_per_layer=2
    for name in ("patches.png", "deconvs.png"):
        assert os.path.isfile(os.path.join(workdir, "units", "block1", "0000", name))
    index = open(os.path.join(workdir, "index.html")).read()
    assert re.search(r"block1@token0", index)


def test_topk_pictures_are_whole_images_under_the_patch_map(net):
    images, _ = shapes.make_batch(777, 0, 2)
    pictures, projections = topk.unit_pictures(net, images, "block1", [3, 3], np.array([1, 2]), np.array([0, 3]),
                                                mode="backprop")
    maps = np.asarray(net.blobs(net.preprocess(images))["block1"])[:, 1:, 3].reshape(2, 4, 4)
    for image, picture, m in zip(images, pictures, maps):
        assert picture.shape == image.shape
        np.testing.assert_array_equal(picture, topk.token_overlay(image, m))
    assert all(p.shape == (64, 64, 3) for p in projections)


def test_topk_refuses_deconv_before_streaming(tmp_path):
    workdir = str(tmp_path / "deconv")
    with pytest.raises(jaxvis.ConfigError, match="config.mode: 'deconv' projections of tiny_vit .* use "
                                                 "--config.mode=backprop"):
        run_topk(topk_config(mode="deconv"), workdir)
    assert not os.path.exists(os.path.join(workdir, "topk_state.npz"))


def test_visualize_job_scores_token_units(tmp_path):
    config = job_config(model=PLUGIN, layers=("block1", "head"), units_per_layer=2, restarts=2, steps=3,
                        presets=("maco",), judge="demo_b", score_images=24, mis_trials=4)
    workdir = str(tmp_path / "vis")
    jaxvis.run_visualize(config, workdir)
    meta = json.load(open(os.path.join(workdir, "units", "maco", "block1", "0001", "meta.json")))
    assert (meta["y"], meta["x"]) == (2, 2)  # the centre patch of the 4x4 grid
    assert meta["scores"]["activation"] is not None and len(meta["top9"]) == 9
    assert all(e["y"] is not None for e in meta["top9"])
    assert os.path.isfile(os.path.join(workdir, "index.html"))

"""A dictionary's features in ``jaxvis topk`` and ``jaxvis live``
(``config.dictionary``, ``--dictionary``): the top images of a feature are
those where ``W_enc (a - b_pre) + b_enc``, computed in numpy from the base
network's conv5, is largest, with patches and deconvolutions; the live view
lists the features' blob, opens on it and its tiles are those
pre-activations; a dictionary of another network is refused by both."""

import json
import os

import numpy as np
import pytest
from starlette.testclient import TestClient

import jaxvis
from configs import topk_demo
from jaxvis.data import shapes
from jaxvis.dictionary.store import Dictionary, DictionaryError, save
from jaxvis.errors import UnitError
from jaxvis.jobs.topk_job import run_topk
from jaxvis.live.server import make_app
from jaxvis.live.session import unpacked
from tests.dictionary.test_sae import random_params
from tests.live.test_protocol import expect, generated_frame, held_out, select

IMAGES, FEATURES, K = 32, 3, 3
BLOB = "conv5.features"


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """(a `jaxvis dictionary` workdir, its Dictionary): 3 random features on demo's conv5 (48 channels)."""
    workdir = tmp_path_factory.mktemp("dictionary")
    d = Dictionary(random_params(48, FEATURES), "demo", "", "conv5", 2)
    save(str(workdir / "dictionary"), d)  # the layout `jaxvis dictionary` leaves in its workdir
    return str(workdir), d


def pre_activations(d, images) -> np.ndarray:
    """[B, 16, 16, FEATURES] in float64, from the base network's own conv5 blob."""
    net = jaxvis.load_model("demo")
    a = np.asarray(net.blobs(net.preprocess(images))["conv5"], np.float64)
    p = {k: np.asarray(v, np.float64) for k, v in d.params.items()}
    return (a - p["b_pre"]) @ p["W_enc"].T + p["b_enc"]


def topk_config(path, **fields):
    c = topk_demo.get_config()
    c.dictionary, c.images, c.batch, c.save_every, c.k, c.chunk_units = path, IMAGES, 16, 1, K, 16
    for k, v in fields.items():
        setattr(c, k, v)
    return c


@pytest.fixture(scope="module")
def ran(dictionary, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("topk") / "run")
    return workdir, run_topk(topk_config(dictionary[0]), workdir)


def test_topk_ranks_the_features_by_the_encoder_on_conv5(dictionary, ran):
    _, d = dictionary
    workdir, info = ran
    assert (info["images"], info["chunks_run"]) == (IMAGES, 1)  # the default layers: the features alone
    assert sorted(os.listdir(os.path.join(workdir, "units"))) == [BLOB]
    seed = topk_demo.get_config().shapes_seed
    pre = pre_activations(d, np.stack([shapes.make_sample(seed, i).image for i in range(IMAGES)]))
    for c in range(FEATURES):
        unit = os.path.join(workdir, "units", BLOB, f"{c:04d}")
        meta = json.load(open(os.path.join(unit, "meta.json")))
        assert meta["layer"] == BLOB and len(meta["entries"]) == K
        per_image = pre[..., c].reshape(IMAGES, -1).max(axis=1)
        top = meta["entries"][0]
        assert top["value"] == pytest.approx(pre[..., c].max(), rel=1e-4, abs=1e-3)
        assert top["image"] == int(per_image.argmax())
        assert pre[top["image"], top["y"], top["x"], c] == pytest.approx(top["value"], rel=1e-4, abs=1e-3)
        assert [e["image"] for e in meta["entries"]] == list(np.argsort(-per_image, kind="stable")[:K])
        for name in ("patches.png", "deconvs.png"):
            assert os.path.getsize(os.path.join(unit, name)) > 0, (c, name)
        assert os.path.isfile(os.path.join(unit, "index.html"))


def test_topk_refuses_a_dictionary_of_another_network(tmp_path):
    other = Dictionary(random_params(48, FEATURES), "demo_b", "", "conv5", 2)
    save(str(tmp_path / "other"), other)
    with pytest.raises(DictionaryError, match=r"config\.dictionary: the dictionary was learned on 'demo_b', "
                                              r"not 'demo'"):
        run_topk(topk_config(str(tmp_path / "other")), str(tmp_path / "w"))
    with pytest.raises(UnitError, match=r"config\.layers"):  # no dictionary: no features' blob
        run_topk(topk_config("", layers=(BLOB,)), str(tmp_path / "w"))
    assert not (tmp_path / "w").exists()


def test_a_topk_workdir_made_before_the_field_resumes_without_a_dictionary(tmp_path):
    workdir = str(tmp_path / "old")
    config = topk_config("", layers=("fc8",), images=4, k=1)
    run_topk(config, workdir)
    path = os.path.join(workdir, "config.json")
    old = json.load(open(path))
    del old["dictionary"]
    json.dump(old, open(path, "w"))
    assert run_topk(config, workdir)["chunks_run"] == 0
    with pytest.raises(jaxvis.JaxvisError, match="different config"):
        run_topk(topk_config("", layers=("fc8",), images=4, k=2), workdir)


def test_live_lists_the_features_and_their_tiles_are_the_encoder(dictionary, ran):
    path, d = dictionary
    app = make_app(jaxvis.load_model("demo"), topk=ran[0], dictionary=path)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        info = expect(ws, "info")
        layers = {layer["name"]: layer for layer in info["layers"]}
        assert layers[BLOB]["kind"] == "features" and layers[BLOB]["channels"] == FEATURES
        assert info["default_layer"] == BLOB and expect(ws, "selection")["layer"] == BLOB
        views = select(ws, layer=BLOB, unit=1, mode="deconv")["views"]
        assert views["layer"] == BLOB and set(views["topk"]) == {"patches", "deconvs"}
        assert client.get(views["topk"]["deconvs"]).status_code == 200
        frame = generated_frame(ws, 4)
        assert frame["layer"] == BLOB and frame["unit"] == 1
        maps = pre_activations(d, held_out(4).image[None])[0]  # [16, 16, FEATURES]
        want = np.round(255 * (maps - maps.min()) / (maps.max() - maps.min())).transpose(2, 0, 1)
        tiles = unpacked(frame["tiles"])
        assert tiles.shape == (FEATURES, 16, 16) and np.abs(tiles.astype(int) - want).max() <= 1
        np.testing.assert_allclose(frame["maxima"], maps.max(axis=(0, 1)), rtol=1e-4, atol=1e-3)
        assert frame["backward_error"] is None and unpacked(frame["backward"]).std() > 0


def test_live_refuses_a_dictionary_of_another_network(dictionary):
    with pytest.raises(DictionaryError, match="--dictionary: the dictionary was learned on 'demo', not 'demo_b'"):
        make_app(jaxvis.load_model("demo_b"), dictionary=dictionary[0])
    with pytest.raises(DictionaryError, match="--dictionary: .* is not a directory"):
        make_app(jaxvis.load_model("demo"), dictionary="/no/such/dictionary")

"""``jaxvis topk`` end to end on a small stream: files and gallery links,
patches equal to the top images' receptive fields, deconvolutions with no
energy outside them, resume from the saved stream state, a folder with
unreadable files (skipped and counted) and an empty folder (refused)."""

import json
import os
import re

import numpy as np
import pytest
from PIL import Image

import jaxvis
from configs import topk_demo
from jaxvis.analysis import topk
from jaxvis.data import shapes
from jaxvis.errors import JaxvisError
from jaxvis.jobs import gallery
from jaxvis.jobs.topk_job import run_topk


def small_config(**kw):
    c = topk_demo.get_config()
    c.layers, c.images, c.batch, c.save_every, c.k, c.chunk_units = ("conv3", "fc8"), 40, 16, 1, 4, 24
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("topk") / "run")
    return workdir, run_topk(small_config(), workdir)


def test_files_links_and_patches(ran):
    workdir, info = ran
    assert (info["images"], info["skipped"], info["chunks_run"]) == (40, 0, 2 + 1)
    net = jaxvis.load_model("demo")
    pages = [os.path.relpath(os.path.join(d, n), workdir) for d, _, ns in os.walk(workdir) for n in ns
             if n.endswith(".html")]
    assert len(pages) == 1 + 2 + 48 + 10
    for page in pages:
        text = open(os.path.join(workdir, page)).read()
        for link in re.findall(r"(?:href|src)='([^']+)'", text):
            assert os.path.isfile(os.path.normpath(os.path.join(workdir, os.path.dirname(page), link))), (page, link)
    meta = json.load(open(os.path.join(workdir, "units", "conv3", "0007", "meta.json")))
    assert len(meta["entries"]) == 4
    info3 = net.layer("conv3")
    patches = gallery.read_png(os.path.join(workdir, "units", "conv3", "0007", "patches.png"))
    first = shapes.make_sample(777, meta["entries"][0]["image"]).image
    expect = topk.patch(first, info3, meta["entries"][0]["y"], meta["entries"][0]["x"])
    scale = patches.shape[0] // (2 * info3.rf_size + 2)  # 2 rows of patches, a 2-px gap, enlarged by save_png
    np.testing.assert_array_equal(patches[: info3.rf_size * scale: scale, : info3.rf_size * scale: scale], expect)
    assert meta["entries"][0]["class"] == shapes.CLASSES[shapes.make_sample(777, meta["entries"][0]["image"]).label]


def test_deconvolution_lies_inside_the_receptive_field(ran):
    workdir, _ = ran
    net = jaxvis.load_model("demo")
    info3 = net.layer("conv3")
    meta = json.load(open(os.path.join(workdir, "units", "conv3", "0007", "meta.json")))
    for e in meta["entries"]:
        x = net.preprocess(shapes.make_sample(777, e["image"]).image)
        v = np.abs(jaxvis.project(net, x, "conv3", 7, at=(e["y"], e["x"]), mode="deconv")[0]).sum(-1)
        y0, x0, size = topk.field_window(info3, e["y"], e["x"])
        inside = v[max(y0, 0):y0 + size, max(x0, 0):x0 + size].sum()
        assert v.sum() > 0 and inside == pytest.approx(v.sum(), rel=1e-6)
        # and the maximum's own field holds the location the stream recorded
        assert np.asarray(net.blobs(x)["conv3"])[0, e["y"], e["x"], 7] == pytest.approx(e["value"], rel=1e-5)


def test_a_stream_killed_midway_resumes_to_the_same_top_images(ran, tmp_path, monkeypatch):
    from jaxvis.analysis import sources

    workdir = str(tmp_path / "killed")
    real = sources.GeneratedImages.labelled_batch

    def crash_at_32(self, lo, hi):
        if lo == 32:
            raise KeyboardInterrupt("killed")
        return real(self, lo, hi)

    monkeypatch.setattr(sources.GeneratedImages, "labelled_batch", crash_at_32)
    with pytest.raises(KeyboardInterrupt):
        run_topk(small_config(), workdir)
    assert int(np.load(os.path.join(workdir, "topk_state.npz"))["next_index"]) == 32  # saved after each batch
    monkeypatch.setattr(sources.GeneratedImages, "labelled_batch", real)
    info = run_topk(small_config(), workdir)
    assert info["chunks_run"] == 3
    finished, resumed = (np.load(os.path.join(w, "topk_state.npz")) for w in (ran[0], workdir))
    assert sorted(finished.files) == sorted(resumed.files)
    for name in finished.files:
        np.testing.assert_array_equal(finished[name], resumed[name], err_msg=name)
    for unit in ("conv3/0007", "fc8/0003"):
        for name in ("meta.json", "patches.png", "deconvs.png"):
            with open(os.path.join(ran[0], "units", unit, name), "rb") as a, \
                    open(os.path.join(workdir, "units", unit, name), "rb") as b:
                assert a.read() == b.read(), (unit, name)
    assert run_topk(small_config(), workdir)["chunks_run"] == 0


def test_folder_with_unreadable_files_and_an_empty_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        img = shapes.make_sample(3, i).image
        Image.fromarray(np.kron(img, np.ones((2, 2, 1), np.uint8))).save(folder / f"img{i}.png")  # 128x128
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.warns(UserWarning, match="skipping .*broken.png"):
        info = run_topk(small_config(source=str(folder)), str(tmp_path / "w"))
    assert (info["images"], info["skipped"]) == (6, 1)  # notes.txt is not an image file: not counted
    meta = json.load(open(os.path.join(tmp_path, "w", "units", "fc8", "0000", "meta.json")))
    assert len(meta["entries"]) == 4 and all(e["name"].startswith("img") for e in meta["entries"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(JaxvisError, match="is empty"):
        run_topk(small_config(source=str(empty)), str(tmp_path / "w2"))

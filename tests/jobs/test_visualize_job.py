"""``jaxvis visualize`` end to end on the shipped demo network: the files and
the gallery's links, a kill -9 mid-way and a resume that gives exactly the
uninterrupted run's files, leftovers of a killed writer, a refused and an
extended workdir, 8 devices and 2 processes giving the 1-device files. The
runs are scored (configs/demo.py's judge demo_b, on 64 scoring images), so
every comparison of files also compares the scores in meta.json."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

import jaxvis
from configs import demo as demo_config
from jaxvis.errors import JaxvisError
from jaxvis.jobs import gallery, run_visualize
from jaxvis.render.grids import field_crop
from tests.jobs import job_files

FLAGS = ["--config.layers=('conv1','fc8')", "--config.restarts=2", "--config.steps=3", "--config.chunk_units=8",
         "--config.score_images=64"]
SCORES = ("activation", "transferability", "plausibility", "mis_visualizations", "mis_natural", "diversity_pixels",
          "diversity_features")


def small_config(layers=("conv1", "fc8"), presets=("row3",)):
    c = demo_config.get_config()
    c.layers, c.restarts, c.steps, c.chunk_units, c.score_images, c.presets = layers, 2, 3, 8, 64, presets
    return c


def _cli(workdir, *extra):
    return job_files.cli("visualize", "configs/demo.py", workdir, *FLAGS, *extra)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("vis") / "run")
    info = run_visualize(small_config(), workdir)
    return workdir, info


def test_files_and_gallery_links(finished):
    workdir, info = finished
    assert info["units"] == 16 + 10 and info["chunks_run"] == 2 + 2
    for layer, n in (("conv1", 16), ("fc8", 10)):
        for c in range(n):
            unit = os.path.join(workdir, "units", "row3", layer, f"{c:04d}")
            for name in ("restart_0.png", "restart_1.png", "grid.png", "meta.json", "index.html", "patches.png",
                         "deconvs.png"):
                assert os.path.isfile(os.path.join(unit, name)), (layer, c, name)
            assert os.path.isfile(os.path.join(workdir, "unit_pages", layer, f"{c:04d}.html"))
        assert os.path.isfile(os.path.join(workdir, "layers", "row3", f"{layer}.png"))
    pages = [p for p in job_files.tree(workdir) if p.endswith(".html")]
    assert len(pages) == 1 + 2 + 26 + 26  # index, layer pages, per-preset unit pages, unit pages
    for page in pages:
        with open(os.path.join(workdir, page)) as f:
            links = re.findall(r"(?:href|src)='([^']+)'", f.read())
        assert links, page
        for link in links:
            assert not link.startswith(("/", "http")), (page, link)
            target = os.path.normpath(os.path.join(workdir, os.path.dirname(page), link))
            assert os.path.isfile(target), (page, link)


def test_kill_and_resume_gives_the_uninterrupted_files(finished, tmp_path):
    reference = job_files.tree(finished[0])
    workdir = str(tmp_path / "killed")
    proc = subprocess.Popen(_cli(workdir), env=job_files.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = os.path.join(workdir, "chunks")
    deadline = time.time() + 300
    def records():
        return len([n for n in os.listdir(chunks) if n.endswith(".json")]) if os.path.isdir(chunks) else 0

    while time.time() < deadline and records() < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = records()
    assert 2 <= done_before < 4, "the run was not interrupted mid-way"
    rerun = subprocess.run(_cli(workdir), env=job_files.env(), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{4 - done_before} chunks run, {done_before} already done" in rerun.stdout
    job_files.same_files(workdir, reference)


def test_resume_removes_what_a_killed_writer_left(finished, tmp_path):
    """A kill between writing a temporary file and renaming it leaves ``*.tmp<pid>``:
    the rerun removes it, for the chunk it redoes and for the gallery it rewrites.
    The redone chunk's scores (meta.json) are byte-identical to the first run's."""
    reference = job_files.tree(finished[0])
    workdir = str(tmp_path / "copy")
    shutil.copytree(finished[0], workdir)
    os.remove(os.path.join(workdir, "chunks", "row3-conv1-00008.json"))
    leftovers = ["units/row3/conv1/0009/restart_1.png.tmp4242", "chunks/row3-conv1-00008.json.tmp4242",
                 "units/row3/fc8/0002/index.html.tmp77", "layers/row3/fc8.png.tmp77", "index.html.tmp77",
                 "units/row3/conv1/0010/deconvs.png.tmp4242", "unit_pages/fc8/0002.html.tmp77"]
    for p in leftovers:
        with open(os.path.join(workdir, p), "w") as f:
            f.write("half")
    info = run_visualize(small_config(), workdir)
    assert (info["chunks_run"], info["chunks_skipped"]) == (1, 3)
    job_files.same_files(workdir, reference)


def test_eight_devices_give_the_one_device_files(finished, tmp_path):
    """The chunk's batch sharded over 8 (simulated) CPU devices; fc8's last
    chunk (2 units x 2 restarts) is padded to 8. Sharding may change float
    rounding, so a pixel may differ by one level."""
    reference = job_files.tree(finished[0])
    workdir = str(tmp_path / "eight")
    run = subprocess.run(_cli(workdir), env=job_files.env(XLA_FLAGS="--xla_force_host_platform_device_count=8"),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(job_files.tree(workdir)) == sorted(reference)
    for page in (p for p in reference if p.endswith(".png")):
        a = np.asarray(gallery.read_png(os.path.join(workdir, page)), np.int16)
        b = np.asarray(gallery.read_png(os.path.join(finished[0], page)), np.int16)
        assert np.abs(a - b).max() <= 1, page
    for layer, c in (("conv1", 5), ("fc8", 9)):
        metas = [json.load(open(os.path.join(root, "units", "row3", layer, f"{c:04d}", "meta.json")))
                 for root in (workdir, finished[0])]
        np.testing.assert_allclose(metas[0]["best_value"], metas[1]["best_value"], rtol=1e-4)


def test_two_processes_give_the_one_process_files(finished, tmp_path):
    """Two processes joined by jax.distributed on localhost share the chunks
    (each its own), process 0 writes the gallery: the files of one process."""
    reference = job_files.tree(finished[0])
    workdir = str(tmp_path / "two")
    outs = job_files.run_two_processes(_cli(workdir))
    # 4 chunks: process 0 takes the 1st and 3rd, process 1 the 2nd and 4th.
    assert all("2 chunks run, 0 already done" in out for out in outs)
    job_files.same_files(workdir, reference)


def test_extend_adds_layers_and_keeps_finished_units(tmp_path):
    workdir = str(tmp_path / "grow")
    run_visualize(small_config(("fc8",)), workdir)
    before = job_files.tree(workdir)
    with pytest.raises(JaxvisError, match="--extend to add layers"):
        run_visualize(small_config(("fc8", "conv1")), workdir)
    info = run_visualize(small_config(("fc8", "conv1")), workdir, extend=True)
    assert (info["chunks_run"], info["chunks_skipped"]) == (2, 2)
    after = job_files.tree(workdir)
    kept = [p for p in before if p.startswith(("units/row3/fc8/", "chunks/")) and not p.endswith("index.html")]
    assert kept and all(after[p] == before[p] for p in kept)
    assert os.path.isfile(os.path.join(workdir, "units", "row3", "conv1", "0015", "grid.png"))
    with pytest.raises(JaxvisError, match="drops 2 of its chunks"):
        run_visualize(small_config(("conv1",)), workdir, extend=True)
    # Another preset: each unit's page shows both, the front page compares them per layer.
    info = run_visualize(small_config(("fc8", "conv1"), presets=("row3", "row1")), workdir, extend=True)
    assert (info["chunks_run"], info["chunks_skipped"]) == (4, 4)
    text = job_files.text(workdir, "unit_pages/fc8/0009.html")
    assert "<h3>row3 (pixel)</h3>" in text and "<h3>row1 (pixel)</h3>" in text
    assert "src='../../units/row1/fc8/0009/grid.png'" in text and "src='../../units/row3/fc8/0009/grid.png'" in text
    assert "<tr><td>row1 (pixel)</td>" in text and "<tr><td>row3 (pixel)</td>" in text
    index = job_files.text(workdir, "index.html")
    assert re.findall(r"<tr><td><a href='layers/(\w+)/(\w+)\.html'>", index) == [
        ("row3", "fc8"), ("row1", "fc8"), ("row3", "conv1"), ("row1", "conv1")]
    assert (_meta(workdir, "fc8", 9, "row1")["scores"]["mis_natural"]
            == _meta(workdir, "fc8", 9)["scores"]["mis_natural"])


def _meta(workdir, layer, channel, preset="row3"):
    with open(os.path.join(workdir, "units", preset, layer, f"{channel:04d}", "meta.json")) as f:
        return json.load(f)


def test_scores_in_meta_json(finished):
    """Every unit's meta.json has every score; fc8's class scores are the
    judge's own numbers on the restart images as saved (uint8 PNGs)."""
    workdir, _ = finished
    for layer, n in (("conv1", 16), ("fc8", 10)):
        for c in range(n):
            meta = _meta(workdir, layer, c)
            assert set(meta["scores"]) == set(SCORES), (layer, c)
            assert len(meta["top9"]) == 9 and meta["scoring"]["judge"] == "demo_b"
            assert "64 generated images of the demo world, seed 2" in meta["scoring"]["images"]
            assert meta["scores"]["mis_natural"] is not None and meta["scores"]["diversity_features"] is not None
            class_scores = [meta["scores"][k] for k in ("transferability", "plausibility")]
            assert (all(v is None for v in class_scores) if layer == "conv1"
                    else all(v is not None for v in class_scores))
    judge = jaxvis.load_model("demo_b")
    for c in (3, 7):
        meta = _meta(workdir, "fc8", c)
        assert meta["class_name"] == jaxvis.load_model("demo").spec.class_names[c]
        images = np.stack([gallery.read_png(os.path.join(workdir, "units", "row3", "fc8", f"{c:04d}",
                                                         f"restart_{r}.png")) for r in range(2)])
        p = np.asarray(judge.probabilities(judge.blobs(judge.preprocess(images))))
        assert meta["scores"]["transferability"]["mean_p"] == pytest.approx(p[:, c].mean(), rel=1e-5)
        assert meta["scores"]["transferability"]["fraction"] == pytest.approx(np.mean(p.argmax(axis=1) == c))
        assert [e["value"] for e in meta["top9"]] == sorted((e["value"] for e in meta["top9"]), reverse=True)


def test_unit_pages_name_the_class_and_show_images_and_scores(finished):
    workdir, _ = finished
    names = jaxvis.load_model("demo").spec.class_names
    for c in range(10):
        text = job_files.text(workdir, f"unit_pages/fc8/{c:04d}.html")
        assert f"<title>demo fc8 unit {c} ({names[c]})</title>" in text
        for image in ("grid.png", "patches.png", "deconvs.png"):
            assert f"src='../../units/row3/fc8/{c:04d}/{image}'" in text, image
        assert "MIS (top-9 patches)" in text and f"{_meta(workdir, 'fc8', c)['scores']['mis_natural']:.3g}" in text
        assert f"({names[c]})" in job_files.text(workdir, f"units/row3/fc8/{c:04d}/index.html")
    conv = job_files.text(workdir, "unit_pages/conv1/0004.html")
    assert "<title>demo conv1 unit 4 at (32, 32)</title>" in conv and "Class unit" not in conv
    fc8 = job_files.text(workdir, "layers/row3/fc8.html")
    cells = re.findall(r"<a (data-[^>]*) href='\.\./\.\./unit_pages/fc8/(\d{4})\.html'[^>]*>.*?<br>([^<]*)</a>", fc8)
    assert [int(c) for _, c, _ in cells] == list(range(10))
    assert [label for _, _, label in cells] == [f"{c} {names[c]}" for c in range(10)]
    for attrs, c, _ in cells:
        data = dict(re.findall(r"data-(\w+)='([^']*)'", attrs))
        assert set(data) == {"channel", "best", "transferability", "mean_p", *SCORES}
        assert float(data["plausibility"]) == pytest.approx(_meta(workdir, "fc8", int(c))["scores"]["plausibility"],
                                                            rel=1e-5)
    assert "sortBy('cells','mis_visualizations')" in fc8 and "function sortBy" in fc8
    index = job_files.text(workdir, "index.html")
    rows = re.findall(r"<tr><td><a href='layers/row3/(\w+)\.html'>\w+</a></td><td>row3</td><td>pixel</td>"
                      r"<td>(\d+)</td><td>[^<]*</td>((?:<td>[^<]*</td>)+)</tr>", index)
    assert [(layer, n) for layer, n, _ in rows] == [("conv1", "16"), ("fc8", "10")]
    means = re.findall(r"<td>([^<]*)</td>", rows[1][2])
    assert means[0] == f"{np.mean([_meta(workdir, 'fc8', c)['scores']['activation'] for c in range(10)]):.3g}"


def test_a_workdir_from_before_the_scores_resumes(tmp_path):
    """A config.json without the score fields was made with scores off: the
    same job (scores off) claims it, a scored one is refused."""
    from jaxvis.jobs.visualize_job import _claim

    net = jaxvis.load_model("demo")
    c = small_config()
    c.score_images, c.judge = 0, ""
    old = {k: v for k, v in json.loads(json.dumps(c.to_dict())).items()
           if k not in ("judge", "score_images", "score_seed", "mis_trials", "score_folder")}
    os.makedirs(tmp_path / "old")
    with open(tmp_path / "old" / "config.json", "w") as f:
        json.dump(old, f)
    _claim(str(tmp_path / "old"), net, c, extend=False)
    c2 = small_config()
    with open(tmp_path / "old" / "config.json", "w") as f:
        json.dump(old, f)
    with pytest.raises(JaxvisError, match="score_images: None -> 64"):
        _claim(str(tmp_path / "old"), net, c2, extend=False)


def test_figure5_sets_crop_each_unit_to_its_receptive_field(finished):
    """conv1 of demo sees 5x5 pixels (checked against the architecture by hand:
    one 5x5 stride-1 conv); its Figure 5 row shows 8 units, each with its 2
    restarts side by side (up to 4 make a 2x2 grid)."""
    workdir, _ = finished
    for name in ("layers/row3/conv1_figure5.png", "layers/row3/fc8_figure5.png", "figure5_row3.png"):
        assert os.path.isfile(os.path.join(workdir, name)), name
    conv1 = gallery.read_png(os.path.join(workdir, "layers/row3/conv1_figure5.png"))
    scale = 2  # demo.py's grid_scale
    cell = 2 * 5 + 1  # two 5x5 crops and a 1-pixel gap
    assert conv1.shape[:2] == (5 * scale, (8 * cell + 7 * 4) * scale)
    image = gallery.read_png(os.path.join(workdir, "units/row3/conv1/0000/restart_0.png"))
    meta = json.load(open(os.path.join(workdir, "units/row3/conv1/0000/meta.json")))
    y, x = meta["y"], meta["x"]
    np.testing.assert_array_equal(
        field_crop(image, jaxvis.load_model("demo").layer("conv1"), y, x), image[y - 2:y + 3, x - 2:x + 3])


def test_workdir_of_another_config_is_refused(finished):
    c = small_config()
    c.seed = 1
    with pytest.raises(JaxvisError, match="different config.*seed: 0 -> 1"):
        run_visualize(c, finished[0])


@pytest.mark.parametrize("name,units,conv5", [("caffenet", 2376, 256), ("vgg_s", 2888, 512)])
def test_paper_configs_cover_every_conv_unit_and_fc8(name, units, conv5):
    import importlib

    import jaxvis
    from jaxvis.jobs.visualize_job import plan_chunks

    config = importlib.import_module(f"configs.{name}").get_config()
    assert (config.restarts, config.steps, tuple(config.presets)) == (9, 0, ("row3",))
    net = jaxvis.load_model(name)
    chunks = plan_chunks(net, config)
    assert sum(len(c["channels"]) for c in chunks) == units
    assert sum(len(c["channels"]) for c in chunks if c["layer"] == "conv5") == conv5
    assert {c["layer"] for c in chunks} == {"conv1", "conv2", "conv3", "conv4", "conv5", "fc8"}

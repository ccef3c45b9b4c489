"""``jaxvis visualize`` end to end on the shipped demo network: the files and
the gallery's links, a kill -9 mid-way and a resume that gives exactly the
uninterrupted run's files, and a refused workdir."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from configs import demo as demo_config
from jaxvis.errors import JaxvisError
from jaxvis.jobs import run_visualize

FLAGS = ["--config.layers=('conv1',)", "--config.restarts=2", "--config.steps=3", "--config.chunk_units=4"]


def small_config(layers=("conv1", "fc8")):
    c = demo_config.get_config()
    c.layers, c.restarts, c.steps, c.chunk_units = layers, 2, 3, 4
    return c


def _tree(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _cli(workdir):
    return [sys.executable, "-m", "jaxvis.cli.main", "visualize", "--config=configs/demo.py",
            f"--workdir={workdir}", *FLAGS]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("vis") / "run")
    info = run_visualize(small_config(), workdir)
    return workdir, info


def test_files_and_gallery_links(finished):
    workdir, info = finished
    assert info["units"] == 16 + 10 and info["chunks_run"] == 4 + 3
    for layer, n in (("conv1", 16), ("fc8", 10)):
        for c in range(n):
            unit = os.path.join(workdir, "units", "row3", layer, f"{c:04d}")
            for name in ("restart_0.png", "restart_1.png", "grid.png", "meta.json", "index.html"):
                assert os.path.isfile(os.path.join(unit, name)), (layer, c, name)
        assert os.path.isfile(os.path.join(workdir, "layers", "row3", f"{layer}.png"))
    pages = [p for p in _tree(workdir) if p.endswith(".html")]
    assert len(pages) == 1 + 2 + 26
    for page in pages:
        with open(os.path.join(workdir, page)) as f:
            links = re.findall(r"(?:href|src)='([^']+)'", f.read())
        assert links, page
        for link in links:
            assert not link.startswith(("/", "http")), (page, link)
            target = os.path.normpath(os.path.join(workdir, os.path.dirname(page), link))
            assert os.path.isfile(target), (page, link)


def test_kill_and_resume_gives_the_uninterrupted_files(tmp_path):
    run_visualize(small_config(("conv1",)), str(tmp_path / "whole"))
    reference = _tree(str(tmp_path / "whole"))
    workdir = str(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(_cli(workdir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = os.path.join(workdir, "chunks")
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.isdir(chunks) and len(os.listdir(chunks)) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(os.listdir(chunks))
    assert 2 <= done_before < 4, "the run was not interrupted mid-way"
    rerun = subprocess.run(_cli(workdir), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{4 - done_before} chunks run, {done_before} already done" in rerun.stdout
    resumed = _tree(workdir)
    assert sorted(resumed) == sorted(reference)  # no file missing, none extra (no stray .tmp)
    differ = [p for p in reference if p != "config.json" and resumed[p] != reference[p]]
    assert not differ, differ[:5]


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

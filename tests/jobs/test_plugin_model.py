"""A network of your own through its plugin path ``examples.tiny_resnet:make_net``:
the visualize job from the command line writes the usual gallery; ``jaxvis
convert`` writes a model directory that a fresh process reloads to the same
blobs; a plugin path that does not resolve is an UnknownModelError naming the
module and the attribute, and one line with status 1 from the CLI."""

import json
import pathlib
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxvis

REPO = pathlib.Path(__file__).resolve().parents[2]
PLUGIN = "examples.tiny_resnet:make_net"


def cli(*args, cwd=REPO):
    """The jaxvis command in a subprocess, from the clone's root (where ``examples`` imports)."""
    return subprocess.run([sys.executable, "-m", "jaxvis.cli.main", *args], cwd=cwd, capture_output=True, check=False,
                          text=True, timeout=300)


def fixed_input(net):
    images, _ = jaxvis.shapes.make_batch(seed=3, start=0, count=2)
    return net.preprocess(images)


def test_visualize_job_on_the_plugin_writes_the_gallery(tmp_path):
    workdir = tmp_path / "vis"
    layers = ("block/conv2", "head")  # a blob inside the residual block (a module path) and the class layer
    r = cli("visualize", "--config=configs/demo.py", f"--config.model={PLUGIN}", f"--config.layers={layers!r}",
            "--config.restarts=1", "--config.steps=3", "--config.chunk_units=16", "--config.figure5_units=2",
            f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "26 units" in r.stdout, r.stdout
    metas = {}
    for meta_path in workdir.glob("units/**/meta.json"):
        meta = json.loads(meta_path.read_text())
        metas[meta["layer"], meta["channel"]] = meta
        for name in ("restart_0.png", "grid.png", "index.html"):
            assert (meta_path.parent / name).is_file(), (meta_path, name)
    assert sorted(metas) == [("block/conv2", c) for c in range(16)] + [("head", c) for c in range(10)]
    assert {m["model"] for m in metas.values()} == {"tiny_resnet"}
    assert all(len(m["best_value"]) == 1 and np.isfinite(m["best_value"]).all() for m in metas.values())
    assert (workdir / "index.html").is_file()
    pages = list(workdir.glob("**/*.html"))
    assert len(pages) == 1 + 2 + 26 + 26  # front page, a page per layer, a page per unit and preset, a unit page
    for page in pages:  # every link of the gallery is relative and resolves
        links = re.findall(r"(?:href|src)='([^']+)'", page.read_text())
        assert links, page
        for link in links:
            assert not link.startswith(("/", "http")), (page, link)
            assert (page.parent / link).resolve().is_file(), (page, link)
    index = (workdir / "index.html").read_text()
    assert "block/conv2" in index and "head" in index


CHILD = """
import sys
import numpy as np
import jaxvis
net = jaxvis.load_model(sys.argv[1])
images, _ = jaxvis.shapes.make_batch(seed=3, start=0, count=2)
blobs = net.blobs(net.preprocess(images))
np.savez(sys.argv[2], **{name.replace("/", "|"): np.asarray(b) for name, b in blobs.items()})
print(net.name, net.definition.source, len(blobs))
"""


def test_convert_then_a_fresh_process_reloads_the_same_network(tmp_path):
    out = tmp_path / "m"
    r = cli("convert", f"--model={PLUGIN}", f"--out={out}")
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "jaxvis_model.json").read_text())
    assert meta["model"] == PLUGIN  # the directory names the function that rebuilds the architecture

    saved = tmp_path / "blobs.npz"
    child = subprocess.run([sys.executable, "-c", CHILD, str(out), str(saved)], cwd=REPO, capture_output=True,
                           check=False, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.split() == ["tiny_resnet", PLUGIN, "13"]

    from examples.tiny_resnet import make_net

    net = make_net()
    here = {name: np.asarray(b) for name, b in net.blobs(fixed_input(net)).items()}
    there = dict(np.load(saved))
    assert [name.replace("|", "/") for name in there] == list(here) == list(net.layer_names)
    for name, value in here.items():
        np.testing.assert_allclose(there[name.replace("/", "|")], value, rtol=1e-6, atol=1e-6, err_msg=name)

    reloaded = jaxvis.load_model(str(out))  # and in this process: the same weights, spec and roles
    assert reloaded.definition.source == PLUGIN and reloaded.definition.class_layer == "head"
    assert reloaded.spec == net.spec
    for a, b in zip(jax.tree.leaves(reloaded.params), jax.tree.leaves(net.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("path,names", [
    ("examples.no_such_module:make_net", ("examples.no_such_module", "make_net")),
    ("examples.tiny_resnet:no_such_function", ("examples.tiny_resnet", "no_such_function")),
])
def test_a_plugin_path_that_does_not_resolve(path, names):
    with pytest.raises(jaxvis.UnknownModelError) as err:
        jaxvis.load_model(path)
    for name in names:
        assert name in str(err.value), str(err.value)
    r = cli("inspect", f"--model={path}")
    assert r.returncode == 1, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(name in lines[0] for name in names), r.stderr[-2000:]


@pytest.mark.parametrize("source,needle", [
    ("import jaxvis_no_such_dependency\n", "ModuleNotFoundError: No module named 'jaxvis_no_such_dependency'"),
    ("raise RuntimeError('no GPU here')\n", "RuntimeError: no GPU here"),
    ("def make_net(:\n", "SyntaxError"),
])
def test_a_plugin_module_whose_own_import_fails(source, needle, tmp_path, monkeypatch):
    """A module that exists but does not import (a missing dependency, an
    exception, a syntax error): the error names the plugin's module and why."""
    (tmp_path / "my_broken_nets.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(jaxvis.UnknownModelError) as err:
        jaxvis.load_model("my_broken_nets:make_net")
    assert "'my_broken_nets:make_net'" in str(err.value) and "'my_broken_nets' does not import" in str(err.value)
    assert needle in str(err.value), str(err.value)
    if "jaxvis_no_such_dependency" not in source:
        return
    r = cli("visualize", f"--config={REPO / 'configs' / 'demo.py'}", "--config.model=my_broken_nets:make_net",
            f"--workdir={tmp_path / 'w'}", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "config.model" in r.stderr and needle in r.stderr
    assert not (tmp_path / "w").exists()  # the config is checked before anything is written

"""The jaxvis command: inspect, convert, and one-line errors without tracebacks."""

import subprocess
import sys

import numpy as np
import pytest

import jaxvis
from tests.reference.caffemodel_writer import write_caffemodel
from tests.weights.test_caffe_import import demo_arrays, demo_layers


def run(*args):
    return subprocess.run([sys.executable, "-m", "jaxvis.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_inspect_prints_layer_table():
    r = run("inspect", "--model=caffenet")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.strip()}
    assert rows["conv5"][2:6] == ["13x13x256", "256", "163", "16"]
    assert rows["fc6"][-1] == "37,752,832"
    assert "total parameters: 60,965,224" in r.stdout


def test_convert_then_load_and_inspect(tmp_path):
    arrays = demo_arrays()
    write_caffemodel(tmp_path / "demo.caffemodel", demo_layers(arrays))
    out = tmp_path / "converted"
    r = run("convert", "--model=demo", f"--weights={tmp_path / 'demo.caffemodel'}", f"--out={out}")
    assert r.returncode == 0, r.stderr
    net = jaxvis.load_model(str(out))  # the directory alone names the model
    assert net.name == "demo"
    np.testing.assert_array_equal(np.asarray(net.params["conv1"]["kernel"]), arrays["conv1"][0].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(np.asarray(net.params["fc8"]["bias"]), arrays["fc8"][1])
    r = run("inspect", f"--model={out}")
    assert r.returncode == 0 and "shapes match" in r.stdout, r.stderr
    r = run("inspect", "--model=caffenet", f"--weights={out}")
    assert r.returncode == 1 and "holds weights of 'demo', not 'caffenet'" in r.stderr


def test_errors_are_one_line(tmp_path):
    (tmp_path / "broken.caffemodel").write_bytes(b"\x0a\xff\xff\xff")
    for args, needle in [
        (("inspect", "--model=resnet"), "unknown model 'resnet'; known models:"),
        (("convert", "--model=demo", f"--weights={tmp_path / 'broken.caffemodel'}", f"--out={tmp_path / 'o'}"),
         "broken.caffemodel"),
        (("convert", "--model=demo", "--weights=/nonexistent.caffemodel", f"--out={tmp_path / 'o'}"), "does not exist"),
    ]:
        r = run(*args)
        assert r.returncode == 1, r.stdout
        assert needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


@pytest.mark.parametrize("command,flag", [("topk", "--workdir"), ("search", "--multihost"), ("visualize", "--extend")])
def test_command_help_shows_its_docstring_and_flags(command, flag):
    r = run(command, "--help")
    out = r.stdout + r.stderr
    assert f"jaxvis {command} --config=configs/" in out and f"  {flag}" in out.replace("--[no]", "--")

"""A preset's label (its name in chunk ids and directories) is one path
component however the preset is named: a Table 1 row, ``FILE.py:NAME`` or
a bare ``DIR/FILE.py``; a small visualize run with a bare preset file puts
every file under ``units/<file stem>/``; two presets with one label (whose
chunks would overwrite each other's files) are refused."""

import os

import pytest

import jaxvis
from configs import demo as demo_config
from jaxvis.errors import ConfigError
from jaxvis.jobs import run_visualize
from jaxvis.jobs.visualize_job import plan_chunks
from jaxvis.optimize.presets import label, preset

PRESET_FILE = '''
from jaxvis.optimize.presets import preset


def get_config(name="row3"):
    return preset(name)
'''


@pytest.fixture
def preset_file(tmp_path):
    path = tmp_path / "sub.dir" / "my_presets.py"
    path.parent.mkdir()
    path.write_text(PRESET_FILE)
    return str(path)


def test_labels_are_one_path_component(preset_file):
    assert label("row3") == "row3"
    assert label(preset_file) == "my_presets"
    assert label(preset_file + ":row1") == "row1"
    assert preset(preset_file).steps == preset("row3").steps  # the bare file loads get_config()


@pytest.mark.parametrize("name,match", [("row9", "unknown preset 'row9'"),
                                        ("../x", "unknown preset"),
                                        ("p.py:a/b", "its name 'a/b' cannot be a file name"),
                                        ("p.py:..", "its name '..' cannot be a file name")])
def test_names_that_are_not_one_component_are_refused(name, match):
    with pytest.raises(ConfigError, match=match):
        label(name)


def test_a_bare_preset_file_names_chunks_and_directories_by_its_stem(preset_file, tmp_path):
    c = demo_config.get_config()
    c.presets, c.layers, c.restarts, c.steps, c.chunk_units = (preset_file,), ("fc8",), 1, 2, 16
    c.score_images = 0  # naming only: no scores
    workdir = str(tmp_path / "w")
    run_visualize(c, workdir)
    assert sorted(os.listdir(os.path.join(workdir, "chunks"))) == ["my_presets-fc8-00000.json"]
    assert os.listdir(os.path.join(workdir, "units")) == ["my_presets"]
    assert sorted(os.listdir(os.path.join(workdir, "units", "my_presets", "fc8"))) == [f"{i:04d}" for i in range(10)]
    assert sorted(os.listdir(os.path.join(workdir, "layers"))) == ["my_presets"]
    assert os.path.isfile(os.path.join(workdir, "figure5_my_presets.png"))



@pytest.mark.parametrize("pair", [("row3", "row3"), ("row3", "{file}:row3"), ("{dir}/row3.py", "row3")])
def test_presets_that_would_share_files_are_refused(preset_file, pair):
    folder = os.path.dirname(preset_file)
    with open(os.path.join(folder, "row3.py"), "w") as f:
        f.write(PRESET_FILE)
    c = demo_config.get_config()
    c.presets, c.layers = tuple(p.format(file=preset_file, dir=folder) for p in pair), ("fc8",)
    with pytest.raises(ConfigError, match="would share the file name 'row3'"):
        plan_chunks(jaxvis.load_model("demo"), c)

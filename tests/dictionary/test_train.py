"""``jaxvis dictionary``'s training: a run interrupted between checkpoints
resumes to the same bytes as an uninterrupted one, and writes a dictionary
that loads and fits its network."""

import signal
import subprocess
import time

import numpy as np
import pytest

import jaxvis
from jaxvis.dictionary import train
from jaxvis.jobs.dictionary_job import job_config, training_config
from tests.jobs import job_files


def tiny_config(**fields):
    fields = {"model": "demo", "layer": "conv3", "images_per_step": 2, "steps": 8, "expansion": 2, "k": 4,
              "save_every": 3, "log_every": 4, "eval_images": 4, "dead_after": 1000, **fields}
    return training_config(job_config(**fields))


def test_an_interrupted_run_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    config = tiny_config()
    whole = train.train_dictionary(config, str(tmp_path / "a"))
    real = train.step_images

    def dying(source, step, count):
        if step == 7:
            raise KeyboardInterrupt  # after the checkpoint of step 6
        return real(source, step, count)

    monkeypatch.setattr(train, "step_images", dying)
    with pytest.raises(KeyboardInterrupt):
        train.train_dictionary(config, str(tmp_path / "b"))
    assert not (tmp_path / "b" / "dictionary").exists()
    monkeypatch.setattr(train, "step_images", real)
    resumed = train.train_dictionary(config, str(tmp_path / "b"))
    loaded = jaxvis.load_dictionary(str(tmp_path / "b"))
    for name in ("W_enc", "b_enc", "W_dec", "b_pre"):
        assert whole.params[name].tobytes() == resumed.params[name].tobytes() == loaded.params[name].tobytes(), name
    assert loaded.latents == 96 and loaded.k == 4 and loaded.layer == "conv3"
    np.testing.assert_allclose(np.linalg.norm(loaded.params["W_dec"], axis=0), 1.0, rtol=1e-5)
    net = jaxvis.with_dictionary(jaxvis.load_model("demo"), loaded)
    assert net.layer("conv3.features").shape == (16, 16, 96)
    with pytest.raises(jaxvis.JaxvisError, match="different config"):
        train.train_dictionary(tiny_config(k=5), str(tmp_path / "b"))


def test_a_dictionary_of_another_network_is_refused(tmp_path):
    config = tiny_config(steps=1)
    d = train.train_dictionary(config, str(tmp_path / "a"))
    with pytest.raises(jaxvis.JaxvisError, match="learned on 'demo', not 'demo_b'"):
        jaxvis.with_dictionary(jaxvis.load_model("demo_b"), d)
    with pytest.raises(jaxvis.JaxvisError, match="no dictionary.json"):
        jaxvis.load_dictionary(str(tmp_path))


KILL_FLAGS = ("--config.layer=conv3", "--config.images_per_step=2", "--config.steps=400", "--config.expansion=2",
              "--config.k=4", "--config.save_every=40", "--config.log_every=100", "--config.eval_images=4",
              "--config.dead_after=1000", "--config.gallery=False")


def test_kill_9_then_rerun_gives_the_uninterrupted_bytes(tmp_path):
    """``jaxvis dictionary`` killed with SIGKILL after a checkpoint, then run
    again, writes the same dictionary.npz as a run never interrupted."""
    argv = lambda w: job_files.cli("dictionary", "configs/demo_dictionary.py", str(w), *KILL_FLAGS)  # noqa: E731
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(argv(whole), env=job_files.env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(argv(killed), env=job_files.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = killed / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (
            checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "dictionary").exists(), "the run finished before the kill; make it longer"
    subprocess.run(argv(killed), env=job_files.env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, b = jaxvis.load_dictionary(str(whole)), jaxvis.load_dictionary(str(killed))
    for name in ("W_enc", "b_enc", "W_dec", "b_pre"):
        assert a.params[name].tobytes() == b.params[name].tobytes(), name

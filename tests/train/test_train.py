"""A tiny training run: the loss falls, checkpoints are written, a killed run
resumes to exactly the uninterrupted result, and a workdir refuses a config
or architecture that is not its own."""

import numpy as np
import pytest

from configs import demo_train
from jaxvis.data import shapes
from jaxvis.errors import ArchitectureMismatchError, JaxvisError
from jaxvis.train import trainer
from jaxvis.weights import checkpoint


def tiny_config(**overrides):
    c = demo_train.get_config("demo")
    c.update(dict(batch_size=32, images_per_epoch=128, epochs=3, eval_images=64, warmup_steps=1,
                  learning_rate=1e-3, export_epochs=(1, 2), log_every=4))
    c.update(overrides)
    return c


def killed_at(monkeypatch, config, image: int, workdir: str) -> None:
    """Runs ``config`` in ``workdir`` until it asks for training image ``image``, where it is killed
    (a KeyboardInterrupt); the data is real again afterwards."""
    real = shapes.make_batch

    def dying(seed, start, count, *a, **k):
        if seed == config.data_seed and start >= image:
            raise KeyboardInterrupt
        return real(seed, start, count, *a, **k)

    monkeypatch.setattr(shapes, "make_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, workdir)
    monkeypatch.setattr(shapes, "make_batch", real)


def _params(path):
    return checkpoint.load(path)[1]


def test_tiny_run_learns_writes_and_resumes(tmp_path, monkeypatch):
    import jax.numpy as jnp
    import optax

    import jaxvis
    from jaxvis.data.preprocess import preprocess

    config = tiny_config()
    info = trainer.train_and_evaluate(config, str(tmp_path / "a"))
    assert info["steps"] == 12
    for epoch in (1, 2, 3):
        assert checkpoint.is_checkpoint(tmp_path / "a" / "evolution" / f"epoch_{epoch:03d}")
    assert (tmp_path / "a" / "checkpoints" / "12").is_dir()

    # The loss on held-out images fell from the initial weights to the trained ones.
    images, labels = shapes.make_batch(config.eval_seed, 0, 256)
    def loss(net):
        logits = net.blobs(preprocess(images, net.spec), until="fc8")["fc8"]
        return float(optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(labels)).mean())
    trained = jaxvis.load_model(str(tmp_path / "a" / "model"))
    initial = jaxvis.load_model("demo", weights="random", seed=config.seed)
    initial = jaxvis.Net(initial.definition, initial.params, trained.spec)
    assert loss(trained) < loss(initial) - 0.02

    # Kill a second run during epoch 2, then re-run the same command.
    killed_at(monkeypatch, config, 6 * config.batch_size, str(tmp_path / "b"))
    assert not (tmp_path / "b" / "model").exists()
    resumed = trainer.train_and_evaluate(config, str(tmp_path / "b"))
    assert resumed["steps"] == 12
    a, b = _params(tmp_path / "a" / "model"), _params(tmp_path / "b" / "model")
    for layer in a:
        for k in a[layer]:
            np.testing.assert_allclose(b[layer][k], a[layer][k], rtol=1e-6, atol=1e-7, err_msg=f"{layer}/{k}")


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished one-epoch run on one device: (config, workdir). Tests copy it before changing it."""
    config = tiny_config(epochs=1, export_epochs=(1,))
    workdir = tmp_path_factory.mktemp("one_epoch") / "w"
    trainer.train_and_evaluate(config, str(workdir))
    return config, workdir


def test_workdir_refuses_other_config_or_architecture(tmp_path, one_epoch):
    import json
    import shutil
    shutil.copytree(one_epoch[1], tmp_path / "w")
    with pytest.raises(JaxvisError, match=r"different config \(learning_rate: 0.001 -> 0.002\)"):
        trainer.train_and_evaluate(tiny_config(epochs=1, export_epochs=(1,), learning_rate=2e-3), str(tmp_path / "w"))
    with pytest.raises(JaxvisError, match="model: 'demo' -> 'demo_b'"):
        trainer.train_and_evaluate(tiny_config(epochs=1, export_epochs=(1,), model="demo_b"), str(tmp_path / "w"))
    # Checkpoints of another architecture under a copied config are refused too.
    shutil.copytree(tmp_path / "w", tmp_path / "x")
    other = tiny_config(epochs=1, export_epochs=(1,), model="demo_b")
    (tmp_path / "x" / "config.json").write_text(json.dumps(json.loads(json.dumps(other.to_dict()))))
    with pytest.raises(ArchitectureMismatchError, match=r"does not fit demo_b \(conv2: "):
        trainer.train_and_evaluate(other, str(tmp_path / "x"))


def test_batches_split_across_cpu_devices_train_the_one_device_weights(tmp_path, one_epoch):
    """`jaxvis train --cpu_devices=3` with batches of 32 splits each batch over
    the 2 devices that divide it; the weights equal a one-device run's up to
    float rounding (the gradient's sum is split in two)."""
    import os
    import subprocess
    import sys

    from tests.conftest import rel_err

    config, one_device = one_epoch
    overrides = [f"--config.{k}={v}" for k, v in config.items() if k != "model"]
    run = subprocess.run(
        [sys.executable, "-m", "jaxvis.cli.main", "train", "--config=configs/demo_train.py",
         f"--workdir={tmp_path / 'split'}", "--cpu_devices=3", *overrides],
        env=dict(os.environ, PYTHONPATH=os.getcwd()), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "training demo on 2 device(s), batch 32" in run.stderr
    one, split = _params(one_device / "model"), _params(tmp_path / "split" / "model")
    for layer in one:
        for k in one[layer]:
            assert rel_err(split[layer][k], one[layer][k]) < 1e-4, f"{layer}/{k}"


def test_vit_trains_through_the_trainer_and_resumes(tmp_path, monkeypatch):
    """demo_vit (a FunctionDef) trains through the same trainer: its own
    initialisation, its declared spec, its list of blocks checkpointed; a run
    killed after its first step resumes, and the model directory loads back."""
    import jaxvis
    from jaxvis.models import demo_vit

    config = tiny_config(model="demo_vit", seed=2, data_seed=3000, batch_size=8, images_per_epoch=8, epochs=2,
                         eval_images=8, warmup_steps=0, export_epochs=(1,), log_every=1, weight_decay=0.05)
    killed_at(monkeypatch, config, config.batch_size, str(tmp_path / "v"))
    assert (tmp_path / "v" / "checkpoints" / "1").is_dir()
    info = trainer.train_and_evaluate(config, str(tmp_path / "v"))  # resumes at step 1
    assert info["steps"] == 2
    net = jaxvis.load_model(str(tmp_path / "v" / "model"))
    assert net.name == "demo_vit" and net.spec.channel_order == "RGB" and net.spec.class_names == shapes.CLASSES
    np.testing.assert_allclose(net.spec.mean, demo_vit.MEAN_RGB, rtol=1e-6)  # the declared spec, not the CNNs' mean
    assert net.spec.std == demo_vit.STD_RGB
    initial = np.asarray(net.definition.init(config.seed)["blocks"][0]["fc1"]["kernel"])
    assert 0 < np.abs(net.params["blocks"][0]["fc1"]["kernel"] - initial).max() < 1e-2  # two small AdamW steps
    # the ViT's nested checkpoint is compared by path against another architecture's shapes
    with pytest.raises(ArchitectureMismatchError, match="does not fit demo_vit"):
        trainer.check_checkpoint_fits(str(tmp_path / "v" / "checkpoints" / "1" / "state"),
                                      {"params": {"conv1": {"kernel": np.zeros((1,))}}}, "demo_vit")

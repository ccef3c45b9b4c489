"""``jaxvis evolution`` holds one checkpoint's network at a time: when each
network loads, every network loaded before it (and its parameters) is
already freed, and none is left once the job returns. The loader is
replaced by one that watches what it returns (the shipped demo network,
read afresh for each checkpoint directory, so no weights need writing)."""

import json
import weakref

import jaxvis
from configs import evolution_demo
from jaxvis.jobs.evolution_job import run_evolution
from jaxvis.weights import checkpoint


def test_one_network_alive_at_a_time(tmp_path, monkeypatch):
    root = tmp_path / "evolution"
    spec = jaxvis.load_model("demo").spec.to_json()
    for epoch in (1, 2):  # the metadata the job reads; the loader below makes the weights
        (root / f"epoch_{epoch:03d}").mkdir(parents=True)
        meta = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "model": "demo", "spec": spec}
        (root / f"epoch_{epoch:03d}" / checkpoint.META_FILE).write_text(json.dumps(meta))

    loaded = []  # weak references: (network, its conv1 kernel), one pair per load
    alive_at_load = []
    real_load = jaxvis.load_model

    def load_and_watch(path):
        alive_at_load.append(sum(r() is not None for pair in loaded for r in pair))
        net = real_load("demo")  # new arrays on each call
        loaded.append((weakref.ref(net), weakref.ref(net.params["conv1"]["kernel"])))
        return net

    monkeypatch.setattr(jaxvis, "load_model", load_and_watch)
    c = evolution_demo.get_config()
    c.evolution_dir, c.layers, c.units_per_layer, c.images, c.min_size = str(root), ("conv1",), 1, 8, 0
    run_evolution(c, str(tmp_path / "ev"))
    assert len(loaded) == 2
    assert alive_at_load == [0, 0], "networks (or their parameters) of earlier checkpoints were still alive"
    assert not any(r() is not None for pair in loaded for r in pair), "the job kept a network after returning"

"""``jaxvis visualize``: every unit of the chosen layers x restarts x presets,
as fixed chunks of units. A chunk's files are written first and its record
``chunks/<id>.json`` last (write-then-rename), so re-running the same
command after a crash or ``kill -9`` skips exactly the finished chunks and
recomputes the others with the same batches, seeds and therefore pixels.

Layout of the workdir::

    config.json                     the config that made it (another is refused)
    chunks/<preset>-<layer>-<first>.json
    units/<preset>/<layer>/<channel>/restart_<r>.png, grid.png, meta.json, index.html
    layers/<preset>/<layer>.png      one image per unit (the best restart): Figure S1
    layers/<preset>/<layer>.html
    index.html                      the gallery's front page
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import logging

import jaxvis
from jaxvis.errors import JaxvisError
from jaxvis.jobs import files, gallery
from jaxvis.models import layers as L
from jaxvis.render.grids import montage, save_png, unit_grid
from jaxvis.train import workdir as wd


def default_layers(net) -> list[str]:
    """Every conv layer and the class layer (the last fully connected layer, before the softmax)."""
    convs = [s.name for s in net.definition.layers if isinstance(s, L.Conv)]
    dense = [s.name for s in net.definition.layers if isinstance(s, L.Dense)]
    return convs + dense[-1:]


def plan_chunks(net, config) -> list[dict]:
    """[{id, preset, layer, channels}] in a fixed order: presets, layers, channels."""
    layers = list(config.layers) or default_layers(net)
    chunks = []
    for preset in config.presets:
        for layer in layers:
            channels = net.layer(layer).channels  # UnitError names the layers
            for first in range(0, channels, config.chunk_units):
                ids = list(range(first, min(first + config.chunk_units, channels)))
                chunks.append({"id": f"{preset}-{layer}-{first:05d}", "preset": preset, "layer": layer,
                               "channels": ids})
    return chunks


def _unit_dir(workdir, preset, layer, channel) -> str:
    return os.path.join(workdir, "units", preset, layer, f"{channel:04d}")


def _run_chunk(net, config, chunk, workdir) -> list[dict]:
    overrides = {"steps": int(config.steps)} if config.steps else {}
    units = [(chunk["layer"], c) for c in chunk["channels"]]
    res = jaxvis.visualize(net, units, preset=chunk["preset"], restarts=config.restarts, seed=config.seed,
                           **overrides)
    metas = []
    for i, (layer, channel, y, x) in enumerate(res.units):
        out = _unit_dir(workdir, chunk["preset"], layer, channel)
        for r in range(config.restarts):
            save_png(res.images[i, r], os.path.join(out, f"restart_{r}.png"))
        save_png(unit_grid(res.images[i]), os.path.join(out, "grid.png"), scale=config.grid_scale)
        trace = res.trace[i]
        meta = {
            "model": net.name, "preset": chunk["preset"], "layer": layer, "channel": channel,
            "y": y if net.layer(layer).spatial else None, "x": x if net.layer(layer).spatial else None,
            "seed": config.seed, "restarts": config.restarts,
            "best_value": res.best_value[i].tolist(), "best_step": res.best_step[i].tolist(),
            "failed_step": res.failed_step[i].tolist(),
            "trace_summary": {"first": trace[:, 0].tolist() if trace.shape[1] else [],
                              "last": trace[:, -1].tolist() if trace.shape[1] else [],
                              "max": np.nanmax(trace, axis=1).tolist() if trace.shape[1] else []},
            "theta": {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in res.theta.items()},
            "best_restart": int(np.argmax(res.best_value[i])),
        }
        files.write_json(os.path.join(out, "meta.json"), meta)
        metas.append(meta)
    return metas


def run_visualize(config, workdir: str) -> dict:
    """Runs (or resumes) the job; returns {"units", "chunks_run", "chunks_skipped", "seconds"}."""
    if config.restarts < 1 or config.chunk_units < 1:
        raise JaxvisError(f"restarts and chunk_units must be >= 1, got {config.restarts} and {config.chunk_units}")
    wd.claim(workdir, config.to_dict())
    net = jaxvis.load_model(config.model, weights=config.weights or None)
    chunks = plan_chunks(net, config)
    total = sum(len(c["channels"]) for c in chunks)
    done_dir = os.path.join(workdir, "chunks")
    todo = [c for c in chunks if not os.path.isfile(os.path.join(done_dir, c["id"] + ".json"))]
    done_units = total - sum(len(c["channels"]) for c in todo)
    logging.info("%s: %d units in %d chunks; %d chunks already done", workdir, total, len(chunks),
                 len(chunks) - len(todo))
    t0, units_run = time.time(), 0
    for chunk in todo:
        metas = _run_chunk(net, config, chunk, workdir)
        files.write_json(os.path.join(done_dir, chunk["id"] + ".json"), {"chunk": chunk, "units": metas})
        units_run += len(metas)
        done_units += len(metas)
        rate = units_run / (time.time() - t0)
        eta = (total - done_units) / rate
        logging.info("units %d/%d (%s)  %.2f units/s  eta %dm%02ds", done_units, total, chunk["id"], rate,
                     eta // 60, eta % 60)
    _write_layers_and_gallery(net, config, chunks, workdir)
    return {"units": total, "chunks_run": len(todo), "chunks_skipped": len(chunks) - len(todo),
            "seconds": round(time.time() - t0, 1)}


def _write_layers_and_gallery(net, config, chunks, workdir) -> None:
    """Montages and HTML from the chunk records alone (so a resumed run writes the same)."""
    by_layer: dict[tuple[str, str], list[dict]] = {}
    for chunk in chunks:
        with open(os.path.join(workdir, "chunks", chunk["id"] + ".json")) as f:
            record = json.load(f)
        by_layer.setdefault((chunk["preset"], chunk["layer"]), []).extend(record["units"])
    for (preset, layer), metas in by_layer.items():
        best = []
        for m in metas:
            path = os.path.join(_unit_dir(workdir, preset, layer, m["channel"]), f"restart_{m['best_restart']}.png")
            best.append(np.asarray(gallery.read_png(path)))
        save_png(montage(np.stack(best)), os.path.join(workdir, "layers", preset, f"{layer}.png"),
                 scale=config.grid_scale)
    gallery.write(workdir, net, config, by_layer)

"""The held-out check of a search's exported presets.

A combination's recognisability in the search is measured on a few probe
images, and the exported ones are the best of many such noisy draws, so
their in-sample score is biased upward (measured on
configs/search_families.py: docs/feature_vis.md). Each exported combination
is therefore run again, with the search's own steps:
- on every class unit of the network (all channels of its class layer);
- with ``config.holdout_restarts`` restarts the search never drew, the
  restart keys of seed + 1;
- judged as the search judges: the independent network's mean probability
  of the unit's class on the displayed images.

Files: ``combos/<id>/holdout/<unit>-r<r>.png``, ``chunks/holdout-<id>-r<R>.json``
(one resumable record per combination) and ``holdout.json``.
"""

from __future__ import annotations

import os

import numpy as np

from jaxvis.jobs import chunked, unit_scores
from jaxvis.optimize.units import parse_unit
from jaxvis.optimize.visualization import restart_keys, run_layer, scale_lr
from jaxvis.render.grids import save_png

SEED_OFFSET = 1  # held-out restart r starts from fold_in(key(seed + 1), r): no restart of the search


def class_units(net, judge) -> list[tuple[str, int, int, int]]:
    """Every unit of ``net``'s class layer when ``judge`` can score them, else []."""
    layer = net.class_layer
    if layer is None or not unit_scores.is_class_unit(net, layer, judge):
        return []
    return [parse_unit(net, (layer, c)) for c in range(net.layer(layer).channels)]


def plan(ids: list[str], restarts: int) -> list[dict]:
    """One chunk per exported combination (none when ``restarts`` is 0)."""
    return [{"id": f"holdout-{i}-r{restarts}", "combo": i} for i in ids] if restarts else []


def unit_name(unit) -> str:
    layer, channel, _, _ = unit
    return f"{layer}-{channel:04d}"


def run_chunk(net, judge, config, units, combo: dict, workdir: str, statistics) -> dict:
    """Runs one combination on ``units`` x ``config.holdout_restarts`` new
    restarts in one batch, saves the images, returns the chunk's record."""
    restarts = config.holdout_restarts
    elems = [(u, r) for u in range(len(units)) for r in range(restarts)]
    settings = scale_lr(net, {k: np.array([v] * len(elems)) for k, v in combo["settings"].items()})
    cols = np.array([units[u][1:] for u, _ in elems])
    keys = restart_keys(config.seed + SEED_OFFSET, restarts)[np.array([r for _, r in elems])]
    out = run_layer(net, units[0][0], cols[:, 0], cols[:, 1], cols[:, 2], keys, settings, max_steps=config.steps,
                    groups=np.array([u for u, _ in elems]), statistics=statistics)
    images = net.deprocess(out.best_x)
    _, probs = unit_scores.judge_outputs(judge, images)
    p = probs[np.arange(len(elems)), cols[:, 0]].reshape(len(units), restarts)
    d = os.path.join(workdir, "combos", combo["id"], "holdout")
    for j, (u, r) in enumerate(elems):
        save_png(images[j], os.path.join(d, f"{unit_name(units[u])}-r{r}.png"))
    return {"id": combo["id"], "recognisability": float(p.mean()), "restarts": restarts,
            "seed": config.seed + SEED_OFFSET, "units": [unit_name(u) for u in units],
            "per_unit": [float(v) for v in p.mean(axis=1)]}


def run(net, judge, config, picked: list[dict], workdir: str, statistics) -> dict[str, dict]:
    """The held-out records of the exported combinations, by id ({} without a
    judge, class units or held-out restarts)."""
    units = class_units(net, judge)
    chunks = plan([r["id"] for r in picked], config.holdout_restarts) if units else []
    if not chunks:
        return {}
    by_id = {r["id"]: r for r in picked}
    chunked.run(workdir, chunks, lambda c: run_chunk(net, judge, config, units, by_id[c["combo"]], workdir, statistics),
                cost=lambda c: 1.0, units=lambda c: len(units) * config.holdout_restarts)
    return {record["id"]: record for record in chunked.read_records(workdir, chunks)}

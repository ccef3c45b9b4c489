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

from jaxvis.jobs import chunked, search_batch, unit_scores
from jaxvis.optimize.units import parse_unit
from jaxvis.optimize.visualization import restart_keys
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
    keys = restart_keys(config.seed + SEED_OFFSET, restarts)
    elems, images, _ = search_batch.run(net, units[0][0], [combo], units, keys, config.steps, statistics)
    p = search_batch.class_probability(judge, images, [units[u][1] for _, u, _ in elems])
    p = p.reshape(len(units), restarts)
    d = os.path.join(workdir, "combos", combo["id"], "holdout")
    for j, (_, u, r) in enumerate(elems):
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

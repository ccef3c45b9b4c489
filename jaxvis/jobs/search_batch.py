"""One compiled batch of the search: combinations x units x restarts of one
layer, and the judge's probability of a class unit's class on the images.
The search's chunks and its held-out check (search_holdout.py) both run here."""

from __future__ import annotations

import numpy as np

from jaxvis.jobs import unit_scores
from jaxvis.optimize.visualization import run_layer, scale_lr


def run(net, layer: str, combos: list[dict], units: list, keys: np.ndarray, steps: int, statistics):
    """Every (combination, unit, restart) in one ``run_layer`` batch, in that
    order: combination c's ``settings`` on each unit (layer, channel, y, x)
    with restart r from ``keys[r]``; a unit's restarts under one combination
    form a diversity group. Returns (elements [(c, u, r)], displayed uint8
    images, the AscentOutput)."""
    elems = [(c, u, r) for c in range(len(combos)) for u in range(len(units)) for r in range(len(keys))]
    settings = scale_lr(net, {k: np.array([combos[c]["settings"][k] for c, _, _ in elems])
                              for k in combos[0]["settings"]})
    cols = np.array([units[u][1:] for _, u, _ in elems])
    out = run_layer(net, layer, cols[:, 0], cols[:, 1], cols[:, 2], keys[np.array([r for _, _, r in elems])],
                    settings, max_steps=steps, groups=np.array([c * len(units) + u for c, u, _ in elems]),
                    statistics=statistics)
    return elems, net.deprocess(out.best_x), out


def class_probability(judge, images, channels) -> np.ndarray:
    """[N]: the judge's probability of class ``channels[i]`` on ``images[i]``
    (uint8, as displayed): recognisability, as the search scores it."""
    probs = unit_scores.judge_outputs(judge, images)[1]
    return probs[np.arange(len(probs)), np.broadcast_to(np.asarray(channels), (len(probs),))]

"""Optimizing the selected unit now, while the page watches: the regularized
ascent of ``jaxvis.visualize`` (a Table 1 preset, one restart) run in a
background thread, its current image handed to ``emit`` every few steps.
The toolbox's README calls this "far too expensive to run live"; with the
step compiled once it takes seconds on a CPU for the demo networks.
A token blob's prefix token (``token``: the class token, a register) is
optimized as ``jaxvis.objectives.token(layer, channel, token)``.
"""

from __future__ import annotations

import threading

import numpy as np

from jaxvis.optimize import objectives as O
from jaxvis.optimize.presets import preset as load_preset
from jaxvis.optimize.units import parse_unit
from jaxvis.optimize.visualization import restart_keys, run_layer, scale_lr

EMIT_EVERY = 10


class Stopped(Exception):
    """Raised inside the ascent when a run is cancelled (a new selection, a disconnect)."""


def optimize_unit(net, layer: str, channel: int, at, emit, stop: threading.Event, preset: str = "row3",
                  steps: int | None = None, every: int = EMIT_EVERY, seed: int = 0, token: int | None = None) -> None:
    """Runs the ascent for (layer, channel[, at]) (or prefix token ``token`` of a token blob) and calls
    ``emit(step, steps, image uint8 [H, W, 3], done)`` every ``every`` steps
    and once at the end with the best image. Returns early, without the final
    call, when ``stop`` is set."""
    if token is None:
        unit = parse_unit(net, (layer, channel, *at) if at is not None else (layer, channel))
        units, objective = ([unit[1]], [unit[2]], [unit[3]]), {}
    else:
        weights = O.compile_one(net, O.token(layer, channel, token))[5]  # UnitError naming the valid tokens
        units, objective = ([0], [0], [0]), {"kinds": [O.WEIGHTS], "weights": weights[None]}
    settings = scale_lr(net, load_preset(preset).to_dict())
    if steps is not None:
        settings["steps"] = steps
    total = int(settings["steps"])

    def observe(t, x):
        if stop.is_set():
            raise Stopped
        if t % every == 0 and t < total:
            emit(t, total, net.deprocess(np.asarray(x[:1]))[0], False)

    try:
        out = run_layer(net, layer, *units, restart_keys(seed, 1), settings, observe=observe, **objective)
    except Stopped:
        return
    emit(total, total, net.deprocess(out.best_x[:1])[0], True)

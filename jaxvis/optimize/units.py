"""Parsing and checking units: (layer, channel) or (layer, channel, y, x)."""

from __future__ import annotations

import numbers

import numpy as np

from jaxvis.errors import UnitError


def check_channels(net, layer: str, channels) -> None:
    """Every channel (an int or an array) in range for ``layer``; UnitError names the range."""
    info = net.layer(layer)  # raises UnitError listing the layers
    channels = np.asarray(channels)
    bad = channels[(channels < 0) | (channels >= info.channels)]
    if bad.size:
        raise UnitError(f"{net.name} layer {layer!r} has channels 0..{info.channels - 1}, got {bad.reshape(-1)[0]}")


def check_locations(net, layer: str, ys, xs) -> None:
    """Every (y, x) (ints or arrays) inside ``layer``'s map (a token blob's
    patch grid); fc layers have none."""
    info = net.layer(layer)
    if info.grid is None:
        raise UnitError(f"{net.name} layer {layer!r} is fully connected ({info.channels} units): "
                        "it has no spatial map, so no (y, x)")
    h, w = info.grid
    ys, xs = np.asarray(ys), np.asarray(xs)
    if np.any((ys < 0) | (ys >= h) | (xs < 0) | (xs >= w)):
        got = (int(ys), int(xs)) if ys.ndim == 0 else np.stack([ys, xs], -1).tolist()
        raise UnitError(f"{net.name} layer {layer!r} maps are {h}x{w}: y in 0..{h - 1}, x in 0..{w - 1}; got {got}")


def parse_unit(net, unit) -> tuple[str, int, int, int]:
    """-> (layer, channel, y, x); conv units default to the map's centre
    (H//2, W//2), token blobs' to the centre of the patch grid; fc units get
    y = x = 0. Raises UnitError with the valid range."""
    if (not isinstance(unit, (tuple, list)) or len(unit) not in (2, 4)
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in unit[1:])):
        raise UnitError(f"a unit is (layer, channel) or (layer, channel, y, x) with integer channel, y and x, "
                        f"got {unit!r}")
    layer, channel = unit[0], int(unit[1])
    check_channels(net, layer, channel)
    info = net.layer(layer)
    if len(unit) == 4:
        y, x = int(unit[2]), int(unit[3])
        check_locations(net, layer, y, x)
        return layer, channel, y, x
    if info.grid is None:
        return layer, channel, 0, 0
    h, w = info.grid
    return layer, channel, h // 2, w // 2


"""Parsing and checking units: (layer, channel) or (layer, channel, y, x)."""

from __future__ import annotations

from jaxvis.errors import UnitError


def parse_unit(net, unit) -> tuple[str, int, int, int]:
    """-> (layer, channel, y, x); conv units default to the map's centre
    (H//2, W//2); fc units get y = x = 0. Raises UnitError with the valid range."""
    if not isinstance(unit, (tuple, list)) or len(unit) not in (2, 4):
        raise UnitError(f"a unit is (layer, channel) or (layer, channel, y, x), got {unit!r}")
    layer, channel = unit[0], unit[1]
    info = net.layer(layer)  # raises UnitError listing the layers
    if not 0 <= int(channel) < info.channels:
        raise UnitError(f"{net.name} layer {layer!r} has channels 0..{info.channels - 1}, got {channel}")
    if not info.spatial:
        if len(unit) == 4:
            raise UnitError(f"{net.name} layer {layer!r} is fully connected ({info.channels} units): it has no (y, x)")
        return layer, int(channel), 0, 0
    h, w = info.shape[:2]
    y, x = (int(unit[2]), int(unit[3])) if len(unit) == 4 else (h // 2, w // 2)
    if not (0 <= y < h and 0 <= x < w):
        raise UnitError(f"{net.name} layer {layer!r} maps are {h}x{w}: y in 0..{h - 1}, x in 0..{w - 1}; got ({y}, {x})")
    return layer, int(channel), y, x

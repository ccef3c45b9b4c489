"""Small line charts drawn with Pillow (the analysis curves: invariance,
evolution). Each chart: axes with their ranges written at the ends, one
coloured polyline per series, a title."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from jaxvis.render.colormaps import PALETTE


def line_chart(x, series, title: str, xlabel: str, size: tuple[int, int] = (320, 220),
               ylim: tuple[float | None, float | None] | None = None) -> np.ndarray:
    """x [N]; series: list of [N] arrays (NaN: a gap); ylim: (lo, hi), None for the data's own;
    returns [H, W, 3] uint8."""
    w, h = size
    left, right, top, bottom = 46, 10, 22, 30
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    x = np.asarray(x, np.float64)
    ys = [np.asarray(s, np.float64) for s in series]
    finite = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.zeros(1)
    lo, hi = ylim if ylim else (None, None)
    lo = float(finite.min()) if lo is None else lo
    hi = float(finite.max()) if hi is None else hi
    hi = hi if hi > lo else lo + 1.0
    x0, x1 = float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1.0

    def px(xv, yv):
        return (left + (xv - x0) / (x1 - x0) * (w - left - right),
                h - bottom - (yv - lo) / (hi - lo) * (h - top - bottom))

    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    d.text((4, 2), title, fill=(0, 0, 0))
    d.text((2, top), f"{hi:.3g}", fill=(0, 0, 0))
    d.text((2, h - bottom - 10), f"{lo:.3g}", fill=(0, 0, 0))
    d.text((left, h - bottom + 4), f"{x0:.3g}", fill=(0, 0, 0))
    d.text((w - right - 30, h - bottom + 4), f"{x1:.3g}", fill=(0, 0, 0))
    d.text((left + (w - left - right) // 2 - 20, h - bottom + 14), xlabel, fill=(0, 0, 0))
    for k, y in enumerate(ys):
        color = tuple(int(c) for c in PALETTE[k % len(PALETTE)])
        points = [px(a, b) for a, b in zip(x, y) if np.isfinite(b)]
        if len(points) > 1:
            d.line(points, fill=color, width=2)
    return np.asarray(im)

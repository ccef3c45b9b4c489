"""The "demo world": generated 64 x 64 RGB images of one shape on clutter, with ground truth.

Each image shows one object of one of ten shape classes (``CLASSES``) in a
uniformly random colour on a cluttered background (colour noise, a grating,
thin strokes: ``jaxvis.data.backgrounds``). A small CNN learns to name the
shape; interpretability methods are checked against the ground truth.

Geometry. Pixel (i, j) has its centre at row i, column j. A shape lives in
object coordinates (u, v), u right and v up, inside the unit disk, and is
placed by ``ObjectParams``: scaled by ``radius``, turned counter-clockwise on
screen by ``angle``, centred at ``(cy, cx)``::

    x = cx + radius * (u cos(angle) - v sin(angle))
    y = cy - radius * (u sin(angle) + v cos(angle))

At angle 0 the triangle, the star and the heart's lobes point up; the arrow,
the first cross arm and the crescent's opening point
right.

Ground truth (``Sample``): ``mask``, the pixels whose centre is inside the
shape; ``box``, the tight half-open (y0, x0, y1, x1) around it; ``parts``,
named points (y, x): vertices and ends (triangle, square and frame corners,
star tips, cross arm ends, arrow tip and tail, heart point, crescent horns;
none for disk and ring), each moved ``PART_INSET`` = 1.5 px into the object so
that it lies on object pixels even at the smallest size.

Drawing: a pixel whose inside-test differs from one of its 4 neighbours gets
its coverage alpha from 4 x 4 supersampling; any other pixel has alpha 1 if
its centre is inside and 0 if not. ``image = alpha * color + (1 - alpha) *
background``, rounded: the mask eroded by 1 px (3 x 3) shows ``color`` exactly,
and outside the mask dilated by 1 px the image is
``render_background(background_seed)``.

Everything is a deterministic function of the seeds, and batched rendering is
bit-identical to one-by-one rendering. ``transform`` moves, scales or turns
the object and keeps its colour and background.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from jaxvis.data.backgrounds import backgrounds, render_background
from jaxvis.errors import ConfigError

__all__ = ["CLASSES", "IMAGE_SIZE", "ObjectParams", "Sample", "make_batch", "make_sample", "object_to_pixel",
           "part_locations", "render", "render_background", "sample_params", "transform"]

CLASSES: tuple[str, ...] = (
    "disk", "ring", "square", "triangle", "star", "cross", "crescent", "heart", "arrow", "frame")
IMAGE_SIZE = 64
MIN_EXTENT, MAX_EXTENT = 0.25, 0.70  # object size 2 * radius, as a fraction of the side
EDGE_MARGIN = 1.0  # px between the object's unit disk and the image border
MIN_CONTRAST = 90.0  # RGB distance between the object and the mean background under it
PART_INSET = 1.5  # px from a vertex into the object
_MAX_COLOR_TRIES = 100
_CHUNK = 256  # images rendered together by make_batch
_SUB = (np.arange(4) + 0.5) / 4 - 0.5  # 4 x 4 supersampling offsets within a pixel
_SUB_Y, _SUB_X = (g.reshape(-1).astype(np.float32) for g in np.meshgrid(_SUB, _SUB, indexing="ij"))


@dataclasses.dataclass(frozen=True)
class ObjectParams:
    """Everything that determines one image (see the module docstring)."""

    label: int  # index into CLASSES
    cy: float  # object centre (row, col) in pixels
    cx: float
    radius: float  # half the object's extent in pixels
    angle: float  # radians, counter-clockwise on screen
    color: tuple[int, int, int]  # RGB of the object
    background_seed: int  # seeds the clutter (render_background)


@dataclasses.dataclass(frozen=True)
class Sample:
    """An image with its ground truth (see the module docstring)."""

    image: np.ndarray  # [S, S, 3] uint8 RGB
    label: int
    mask: np.ndarray  # [S, S] bool
    box: tuple[int, int, int, int]  # (y0, x0, y1, x1), half-open
    parts: dict[str, tuple[float, float]]  # name -> (y, x) in pixels
    params: ObjectParams


# --- The shapes, in object coordinates (u right, v up) inside the unit disk. ---
RING_INNER = 0.55  # inner radius of the ring
FRAME_INNER = 0.55  # the frame's hole, as a fraction of its outer half-side
STAR_INNER = 0.4  # radius of the star's inner vertices
CROSS_HALF_WIDTH = 0.3
CROSS_ARM = float(np.sqrt(1.0 - CROSS_HALF_WIDTH**2))  # arm length: arm corners on the unit circle
CRESCENT_CUT = (0.6, 0.85)  # centre (on +u) and radius of the disk cut out of the unit disk
ARROW_TIP, ARROW_BASE, ARROW_HEAD, ARROW_SHAFT, ARROW_TAIL = 0.97, 0.05, 0.6, 0.22, -0.95
HEART_LOBE, HEART_LOBE_RADIUS, HEART_POINT = (0.42, 0.3), 0.45, -0.95


def _polar(radius: float, angles: np.ndarray) -> np.ndarray:
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # [K, 2] (u, v)


def _halfplanes(vertices: np.ndarray) -> list[list[float]]:
    """Rows (nx, ny, h) of Python floats: a convex CCW polygon is {n . p <= h}."""
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    return np.concatenate([normals, np.sum(normals * vertices, 1, keepdims=True)], axis=1).tolist()


def _in_convex(u: np.ndarray, v: np.ndarray, planes: list[list[float]]) -> np.ndarray:
    (nx, ny, h), *rest = planes
    out = u * nx + v * ny <= h
    for nx, ny, h in rest:
        out &= u * nx + v * ny <= h
    return out


def _heart_outline() -> np.ndarray:
    """CCW pentagon: the bottom point, its tangent points on the lobes, the lobe centres."""
    (lx, ly), c = HEART_LOBE, HEART_LOBE_RADIUS
    d = np.hypot(lx, ly - HEART_POINT)
    ang, reach = np.arctan2(ly - HEART_POINT, lx) - np.arcsin(c / d), np.sqrt(d * d - c * c)
    tx, ty = reach * np.cos(ang), HEART_POINT + reach * np.sin(ang)
    return np.array([(0.0, HEART_POINT), (tx, ty), (lx, ly), (-lx, ly), (-tx, ty)])


_TIPS = np.pi / 2 + 2 * np.pi * np.arange(5) / 5
_STAR_APOTHEM = STAR_INNER * float(np.cos(np.pi / 5))  # of the inner pentagon
_STAR = [(float(np.cos(a)), float(np.sin(a)), _halfplanes(np.array(  # tip direction, tip's two edges
    [(0.0, 0.0), *_polar(STAR_INNER, [a - np.pi / 5]), *_polar(1.0, [a]), *_polar(STAR_INNER, [a + np.pi / 5])]))[1:3])
    for a in _TIPS]
_TRIANGLE = _halfplanes(_polar(1.0, np.pi / 2 + 2 * np.pi * np.arange(3) / 3))
_HEART = _halfplanes(_heart_outline())
_SQUARE_HALF = float(np.sqrt(0.5))


def _in_shape(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether object-coordinate points (u, v) (float32 arrays) are inside shape ``label``."""
    name = CLASSES[label]
    if name in ("disk", "ring", "crescent"):
        r2 = u * u + v * v
        if name == "disk":
            return r2 <= 1.0
        if name == "ring":
            return (r2 <= 1.0) & (r2 >= RING_INNER**2)
        du = u - CRESCENT_CUT[0]
        return (r2 <= 1.0) & (du * du + v * v > CRESCENT_CUT[1] ** 2)
    if name in ("square", "frame"):
        side = np.maximum(np.abs(u), np.abs(v))
        if name == "square":
            return side <= _SQUARE_HALF
        return (side <= _SQUARE_HALF) & (side >= FRAME_INNER * _SQUARE_HALF)
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= CROSS_HALF_WIDTH) & (av <= CROSS_ARM)) | ((av <= CROSS_HALF_WIDTH) & (au <= CROSS_ARM))
    if name == "arrow":
        av = np.abs(v)
        shaft = (av <= ARROW_SHAFT) & (u >= ARROW_TAIL) & (u <= ARROW_BASE)
        return shaft | ((u >= ARROW_BASE) & (av * (ARROW_TIP - ARROW_BASE) <= ARROW_HEAD * (ARROW_TIP - u)))
    if name == "heart":
        lx, ly = HEART_LOBE
        dv2 = (v - ly) ** 2
        lobes = ((u - lx) ** 2 + dv2 <= HEART_LOBE_RADIUS**2) | ((u + lx) ** 2 + dv2 <= HEART_LOBE_RADIUS**2)
        return lobes | _in_convex(u, v, _HEART)
    if name == "star":  # inner pentagon, or past one of its edges but inside that tip's wedge
        out = None
        for cu, cv, wedge in _STAR:
            ok = (u * cu + v * cv <= _STAR_APOTHEM) | _in_convex(u, v, wedge)
            out = ok if out is None else out & ok
        return out
    return _in_convex(u, v, _TRIANGLE)  # triangle


def _part_table() -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Per class: (name, vertex (u, v), unit direction (du, dv) into the object).
    Vertices point inwards to the centre; a crescent horn bisects its two arcs."""
    def radial(name: str, points: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(f"{name}{k}", p, -p / np.linalg.norm(p)) for k, p in enumerate(points)]

    d, cr = CRESCENT_CUT
    hx = (1.0 + d * d - cr * cr) / (2.0 * d)
    hy = float(np.sqrt(1.0 - hx * hx))
    b = np.array([-hy * (1.0 + 1.0 / cr), hx + (hx - d) / cr])  # sum of the arcs' unit tangents
    bu, bv = b / np.linalg.norm(b)
    return {
        "triangle": radial("corner", _polar(1.0, np.pi / 2 + 2 * np.pi * np.arange(3) / 3)),
        "star": radial("tip", _polar(1.0, _TIPS)),
        "cross": radial("arm", _polar(CROSS_ARM, np.pi / 2 * np.arange(4))),
        "arrow": [("tip", (ARROW_TIP, 0.0), (-1.0, 0.0)), ("tail", (ARROW_TAIL, 0.0), (1.0, 0.0))],
        "square": radial("corner", _polar(1.0, np.pi / 4 + np.pi / 2 * np.arange(4))),
        "frame": radial("corner", _polar(1.0, np.pi / 4 + np.pi / 2 * np.arange(4))),
        "heart": [("point", (0.0, HEART_POINT), (0.0, 1.0))],
        "crescent": [("horn0", (hx, hy), (bu, bv)), ("horn1", (hx, -hy), (bu, -bv))],
    }


_PARTS = _part_table()


def object_to_pixel(p: ObjectParams, u: float, v: float) -> tuple[float, float]:
    """Pixel (y, x) of the object point (u, v) under ``p``."""
    c, s = np.cos(p.angle), np.sin(p.angle)
    return (p.cy - p.radius * (u * s + v * c), p.cx + p.radius * (u * c - v * s))


def part_locations(p: ObjectParams, inset: float = PART_INSET) -> dict[str, tuple[float, float]]:
    """Named parts (y, x) in pixels: each vertex moved ``inset`` px into the object."""
    out = {}
    c, s = np.cos(p.angle), np.sin(p.angle)
    for name, (u, v), (du, dv) in _PARTS.get(CLASSES[p.label], []):
        y, x = object_to_pixel(p, u, v)
        out[name] = (float(y - inset * (du * s + dv * c)), float(x + inset * (du * c - dv * s)))
    return out


# --- Rendering. ---
def _draw_geometry(rng: np.random.Generator, size: int) -> ObjectParams:
    """Label, radius, centre, angle and background seed from rng (colour unset)."""
    r = rng.random(5)
    label = min(int(r[0] * len(CLASSES)), len(CLASSES) - 1)
    radius = 0.5 * size * (MIN_EXTENT + (MAX_EXTENT - MIN_EXTENT) * r[1])
    lo, hi = radius + EDGE_MARGIN - 0.5, size - 0.5 - EDGE_MARGIN - radius
    cy, cx = lo + (hi - lo) * r[2], lo + (hi - lo) * r[3]
    seed = int(rng.integers(0, 2**62))
    return ObjectParams(label, float(cy), float(cx), float(radius), float(2.0 * np.pi * r[4]), (0, 0, 0), seed)


def _pick_color(rng: np.random.Generator, mean: list[float]) -> tuple[int, int, int]:
    """Uniform RGB, drawn again until at least MIN_CONTRAST away from ``mean``."""
    for _ in range(_MAX_COLOR_TRIES):
        color = tuple(int(c * 256.0) for c in rng.random(3).tolist())
        if sum((c - m) ** 2 for c, m in zip(color, mean)) >= MIN_CONTRAST**2:
            return color
    return tuple(255 if m < 127.5 else 0 for m in mean)  # practically unreachable


def _object_pixels(params: list[ObjectParams], size: int) -> tuple[np.ndarray, ...]:
    """Image pixels near the objects: flat index into [N, S, S], coverage alpha,
    whether the centre is inside, and the object's position in ``params``.

    Objects of one class are evaluated together, each in a square window one
    pixel larger than its unit disk on every side (so that the window's border
    is outside the object); then edge pixels are supersampled.
    """
    found = []
    labels = np.array([p.label for p in params])
    for label in np.unique(labels):
        sel = np.nonzero(labels == label)[0]
        group = [params[i] for i in sel]
        win = 4 + int(2.0 * max(p.radius for p in group))
        corner = np.array([[np.floor(p.cy - p.radius) - 1, np.floor(p.cx - p.radius) - 1] for p in group], np.intp)
        # Window pixel (a, b) is image pixel corner + (a, b): u = ux b + uy a + u0, same for v.
        m = []
        for p, (y0, x0) in zip(group, corner):
            c, s = math.cos(p.angle) / p.radius, math.sin(p.angle) / p.radius
            dy, dx = y0 - p.cy, x0 - p.cx
            m.append((c, -s, dx * c - dy * s, -s, -c, -dx * s - dy * c))
        m = np.array(m, np.float32)
        ux, uy, u0, vx, vy, v0 = (m[:, k, None, None] for k in range(6))
        w = np.arange(win, dtype=np.float32)
        u, v = (w * ux + u0) + w[:, None] * uy, (w * vx + v0) + w[:, None] * vy
        inside = _in_shape(int(label), u, v)
        edge = np.zeros_like(inside)  # differs from a 4-neighbour
        d = inside[:, :, 1:] != inside[:, :, :-1]
        edge[:, :, 1:] |= d
        edge[:, :, :-1] |= d
        d = inside[:, 1:] != inside[:, :-1]
        edge[:, 1:] |= d
        edge[:, :-1] |= d
        cover = inside.astype(np.float32).reshape(-1)
        flat = np.flatnonzero(edge)
        k = flat // (win * win)
        us = u.reshape(-1)[flat, None] + (_SUB_X * m[:, 0, None] + _SUB_Y * m[:, 1, None])[k]
        vs = v.reshape(-1)[flat, None] + (_SUB_X * m[:, 3, None] + _SUB_Y * m[:, 4, None])[k]
        words = _in_shape(int(label), us, vs).view(np.uint64)  # 16 bools = 2 words of eight 0/1 bytes
        hits = ((words * np.uint64(0x0101010101010101)) >> np.uint64(56)).sum(axis=1)  # byte sums
        cover[flat] = hits.astype(np.float32) * np.float32(1.0 / _SUB_X.size)
        rows, cols = corner[:, :1] + np.arange(win), corner[:, 1:] + np.arange(win)
        seen = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]
        keep = np.flatnonzero((inside | edge) & seen)
        index = ((sel[:, None] * size + rows) * size)[:, :, None] + cols[:, None, :]
        found.append((index.reshape(-1)[keep], cover[keep], inside.reshape(-1)[keep], np.repeat(sel, win * win)[keep]))
    return tuple(np.concatenate(column) for column in zip(*found))


def _paint_objects(images: np.ndarray, params: list[ObjectParams], pixels: tuple[np.ndarray, ...]) -> None:
    """images = alpha * color + (1 - alpha) * images, rounded, at the object pixels."""
    index, alpha, _, owner = pixels
    colors = np.array([p.color for p in params], np.uint8)
    flat = images.reshape(-1, 3)
    full = alpha == 1.0
    flat[index[full]] = colors[owner[full]]  # exactly the colour
    part = np.flatnonzero(~full)
    index, a = index[part], alpha[part, None]
    old = flat[index].astype(np.float32)
    flat[index] = np.rint(old + a * (colors[owner[part]] - old)).astype(np.uint8)


def _sample_many(rngs: list[np.random.Generator], size: int) -> tuple[list[ObjectParams], np.ndarray]:
    """Params drawn from each rng, and their images [N, S, S, 3]. The colour is
    drawn last, from the mean background under the mask (exact integer sums)."""
    params = [_draw_geometry(rng, size) for rng in rngs]
    images = backgrounds([p.background_seed for p in params], size)
    pixels = _object_pixels(params, size)
    index, _, inside, owner = pixels
    under, owner = images.reshape(-1, 3)[index[inside]], owner[inside]
    area = np.bincount(owner, minlength=len(params))
    sums = np.stack([np.bincount(owner, under[:, c], minlength=len(params)) for c in range(3)], axis=1)
    means = (sums / np.maximum(area, 1)[:, None]).tolist()
    for i, (rng, p) in enumerate(zip(rngs, params)):
        if area[i] == 0:  # only for tiny images: the pixel at the centre
            means[i] = images[i, min(max(round(p.cy), 0), size - 1), min(max(round(p.cx), 0), size - 1)].tolist()
        params[i] = ObjectParams(p.label, p.cy, p.cx, p.radius, p.angle, _pick_color(rng, means[i]), p.background_seed)
    _paint_objects(images, params, pixels)
    return params, images


def _to_sample(image: np.ndarray, params: ObjectParams) -> Sample:
    index, _, inside, _ = _object_pixels([params], image.shape[0])
    mask = np.zeros(image.shape[:2], bool)
    mask.reshape(-1)[index[inside]] = True
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1) if len(rows) else (0, 0, 0, 0)
    return Sample(image=image, label=params.label, mask=mask, box=box, parts=part_locations(params), params=params)


# --- API. ---
def sample_params(rng: np.random.Generator, size: int = IMAGE_SIZE) -> ObjectParams:
    """A random object: label uniform over CLASSES; 2 * radius uniform in 25..70 %
    of the side; centre uniform with the unit disk >= EDGE_MARGIN px inside the
    image; angle uniform in [0, 2 pi); a background seed; a uniform colour, drawn
    again until >= MIN_CONTRAST (RGB L2) from the mean background under the mask."""
    return _sample_many([rng], size)[0][0]


def render(params: ObjectParams, size: int = IMAGE_SIZE) -> Sample:
    """The object described by ``params`` drawn on its background."""
    images = backgrounds([params.background_seed], size)
    _paint_objects(images, [params], _object_pixels([params], size))
    return _to_sample(images[0], params)


def _check_counts(**values) -> None:
    """Seeds, indices and counts are integers >= 0 (numpy's seeding refuses negatives)."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ConfigError(f"shapes: {name} must be an integer >= 0, got {v!r}")


def make_sample(seed: int, index: int, size: int = IMAGE_SIZE) -> Sample:
    """Sample ``index`` of world ``seed``, from rng = default_rng([seed, index]) alone."""
    _check_counts(seed=seed, index=index)
    params, images = _sample_many([np.random.default_rng([seed, index])], size)
    return _to_sample(images[0], params[0])


def make_batch(seed: int, start: int, count: int, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Images [count, S, S, 3] uint8 and labels [count] int32 of samples start ..
    start + count - 1, bit-identical to make_sample(seed, start + i)."""
    _check_counts(seed=seed, start=start, count=count)
    images = np.empty((count, size, size, 3), np.uint8)
    labels = np.empty(count, np.int32)
    for lo in range(0, count, _CHUNK):
        hi = min(lo + _CHUNK, count)
        params, images[lo:hi] = _sample_many([np.random.default_rng([seed, start + i]) for i in range(lo, hi)], size)
        labels[lo:hi] = [p.label for p in params]
    return images, labels


def transform(params: ObjectParams, *, dy: float = 0.0, dx: float = 0.0, scale: float = 1.0,
              rotate: float = 0.0) -> ObjectParams:
    """The same object on the same background, moved by (dy, dx) px, scaled by
    ``scale`` about its centre and turned by ``rotate`` radians counter-clockwise
    on screen about it. The colour is kept (its contrast is not re-checked)."""
    return dataclasses.replace(params, cy=params.cy + dy, cx=params.cx + dx, radius=params.radius * scale,
                               angle=params.angle + rotate)

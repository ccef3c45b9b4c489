"""Tests of the generated shapes world against independent facts: pixel values
versus the ground truth, plane geometry (areas, rotations), and statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from jaxvis.data.shapes import (
    CLASSES,
    IMAGE_SIZE,
    ObjectParams,
    make_batch,
    make_sample,
    render,
    render_background,
    sample_params,
    transform,
)

SQUARE_3X3 = np.ones((3, 3), bool)
EXPECTED_PARTS = {
    "disk": set(),
    "ring": set(),
    "square": {f"corner{k}" for k in range(4)},
    "triangle": {f"corner{k}" for k in range(3)},
    "star": {f"tip{k}" for k in range(5)},
    "cross": {f"arm{k}" for k in range(4)},
    "crescent": {"horn0", "horn1"},
    "heart": {"point"},
    "arrow": {"tip", "tail"},
    "frame": {f"corner{k}" for k in range(4)},
}


def _object(name: str, radius: float = 12.0, angle: float = 0.3, cy: float = 31.6, cx: float = 32.3) -> ObjectParams:
    return ObjectParams(CLASSES.index(name), cy, cx, radius, angle, (250, 20, 120), background_seed=1234)


def _one_per_class(seed: int = 11) -> list:
    found: dict[int, object] = {}
    i = 0
    while len(found) < len(CLASSES):
        s = make_sample(seed, i)
        found.setdefault(s.label, s)
        i += 1
    return [found[k] for k in range(len(CLASSES))]


@pytest.fixture(scope="module")
def many_params() -> list[ObjectParams]:
    return [sample_params(np.random.default_rng([5, i])) for i in range(2000)]


def test_determinism():
    a, b = make_sample(3, 17), make_sample(3, 17)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params == b.params and a.parts == b.parts and a.box == b.box
    assert not np.array_equal(a.image, make_sample(4, 17).image)
    assert not np.array_equal(a.image, make_sample(3, 18).image)


def test_make_batch_equals_make_sample():
    images, labels = make_batch(2, 5, 135)  # crosses an internal chunk boundary
    assert images.shape == (135, IMAGE_SIZE, IMAGE_SIZE, 3) and images.dtype == np.uint8
    assert labels.shape == (135,) and labels.dtype == np.int32
    for i in range(135):
        s = make_sample(2, 5 + i)
        assert np.array_equal(images[i], s.image) and labels[i] == s.label
    assert make_batch(2, 0, 0)[0].shape == (0, IMAGE_SIZE, IMAGE_SIZE, 3)


def test_sample_params_and_render_reproduce_make_sample():
    s = make_sample(9, 4)
    params = sample_params(np.random.default_rng([9, 4]))
    assert params == s.params
    r = render(params)
    assert np.array_equal(r.image, s.image) and np.array_equal(r.mask, s.mask) and r.parts == s.parts


def test_pixels_agree_with_mask_box_and_background():
    samples = _one_per_class() + [make_sample(12, i) for i in range(40)]
    for s in samples:
        p = s.params
        assert s.image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and s.image.dtype == np.uint8
        assert s.mask.shape == (IMAGE_SIZE, IMAGE_SIZE) and s.mask.dtype == bool and s.label == p.label
        core = ndimage.binary_erosion(s.mask, SQUARE_3X3, border_value=0)
        assert core.any()
        assert (s.image[core] == np.array(p.color, np.uint8)).all()
        far = ~ndimage.binary_dilation(s.mask, SQUARE_3X3)
        assert np.array_equal(s.image[far], render_background(p.background_seed)[far])
        rows, cols = np.nonzero(s.mask)
        assert s.box == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
        # The edge band holds blends: every channel between background and colour.
        band = s.mask & ~core
        bg = render_background(p.background_seed)[band].astype(int)
        color = np.array(p.color)
        lo, hi = np.minimum(bg, color) - 1, np.maximum(bg, color) + 1
        assert ((s.image[band] >= lo) & (s.image[band] <= hi)).all()


def test_parts_are_named_and_lie_on_the_object():
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        for trial in range(30):
            radius = 8.0 if trial < 15 else rng.uniform(8.0, 22.4)  # smallest size first
            lo, hi = radius + 0.5, IMAGE_SIZE - 1.5 - radius
            p = ObjectParams(label, rng.uniform(lo, hi), rng.uniform(lo, hi), radius, rng.uniform(0, 2 * np.pi),
                             (0, 0, 0), int(rng.integers(1000)))
            s = render(p)
            assert set(s.parts) == EXPECTED_PARTS[name]
            ys, xs = np.nonzero(s.mask)
            for part, (y, x) in s.parts.items():
                assert np.hypot(ys - y, xs - x).min() <= 1.5, (name, part, p)
                # A part belongs to the object: it is within the unit disk.
                assert math.hypot(y - p.cy, x - p.cx) <= radius + 1e-9


@pytest.mark.parametrize(
    "name, area",  # area of the shape with unit radius, from its definition
    [
        ("disk", math.pi),
        ("ring", math.pi * (1.0 - 0.55**2)),
        ("square", 2.0),
        ("triangle", 3.0 * math.sqrt(3.0) / 4.0),
        ("frame", 2.0 * (1.0 - 0.55**2)),
        ("star", 10 * 0.5 * 0.4 * math.sin(math.pi / 5)),
        ("cross", 2 * (2 * 0.3) * (2 * math.sqrt(1 - 0.09)) - (2 * 0.3) ** 2),
    ],
)
def test_mask_area_matches_the_shape(name, area):
    for radius in (8.0, 13.5, 22.0):
        for angle in (0.0, 0.7):
            mask = render(_object(name, radius=radius, angle=angle)).mask
            assert mask.sum() == pytest.approx(area * radius**2, rel=0.10)


def test_shapes_are_distinguishable_at_the_smallest_size():
    for angle in (0.0, 0.4):
        masks = [render(_object(name, radius=8.0, angle=angle)).mask for name in CLASSES]
        for i in range(len(CLASSES)):
            for j in range(i):
                iou = (masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()
                assert iou < 0.88, (CLASSES[i], CLASSES[j], iou)


@pytest.mark.parametrize("name", ["arrow", "star", "crescent", "heart"])
def test_integer_translation_moves_the_mask_exactly(name):
    p = _object(name, radius=12.0, angle=1.1)
    mask = render(p).mask
    assert np.array_equal(render(transform(p, dx=5)).mask, np.roll(mask, 5, axis=1))
    assert np.array_equal(render(transform(p, dy=-4)).mask, np.roll(mask, -4, axis=0))
    moved = render(transform(p, dy=3, dx=-6))
    assert np.array_equal(moved.mask, np.roll(mask, (3, -6), axis=(0, 1)))
    assert moved.box == tuple(np.add(render(p).box, (3, -6, 3, -6)))


@pytest.mark.parametrize("name", ["disk", "square", "arrow", "star"])
def test_scaling_multiplies_the_area(name):
    p = _object(name, radius=12.0)
    ratio = render(transform(p, scale=1.5)).mask.sum() / render(p).mask.sum()
    assert ratio == pytest.approx(2.25, rel=0.10)


def test_rotation_turns_parts_counter_clockwise_on_screen():
    p = _object("arrow", radius=14.0, angle=0.4)
    a, b = render(p), render(transform(p, rotate=math.pi / 2))
    for part in ("tip", "tail"):
        (y, x), (y2, x2) = a.parts[part], b.parts[part]
        dy, dx = y - p.cy, x - p.cx
        # Screen-CCW by 90 degrees (rows grow downwards): right -> up, up -> left.
        assert (y2 - p.cy, x2 - p.cx) == pytest.approx((-dx, dy), abs=1e-9)


def test_angle_convention_on_screen():
    # The arrow's widest cross-section (its head) is on the tip side.
    right = render(_object("arrow", radius=14.0, angle=0.0, cy=32.0, cx=32.0))
    up = render(_object("arrow", radius=14.0, angle=math.pi / 2, cy=32.0, cx=32.0))
    assert right.mask.sum(axis=0).argmax() > 32 and right.parts["tip"][1] > 32 + 10
    assert up.mask.sum(axis=1).argmax() < 32 and up.parts["tip"][0] < 32 - 10
    # A quarter turn about the image centre is np.rot90 of the mask (CCW on screen).
    for name in ("arrow", "heart", "crescent"):
        m0 = render(_object(name, radius=14.0, angle=0.2, cy=31.5, cx=31.5)).mask
        m1 = render(_object(name, radius=14.0, angle=0.2 + math.pi / 2, cy=31.5, cx=31.5)).mask
        assert (np.rot90(m0) ^ m1).sum() <= 0.02 * m1.sum()


def test_transforms_keep_the_background():
    p = make_sample(21, 3).params
    q = transform(p, dy=2.5, dx=-3.0, scale=0.8, rotate=1.0)
    a, b = render(p), render(q)
    assert b.params.color == p.color and b.params.background_seed == p.background_seed
    away = ~ndimage.binary_dilation(a.mask | b.mask, SQUARE_3X3)
    assert np.array_equal(a.image[away], b.image[away])
    assert np.array_equal(b.image[away], render_background(p.background_seed)[away])


def test_objects_partly_outside_the_image():
    p = transform(_object("square", radius=15.0), dx=40.0)
    s = render(p)
    assert s.mask.any() and s.mask[:, -1].any() and s.box[3] == IMAGE_SIZE
    gone = render(transform(p, dx=100.0))
    assert not gone.mask.any() and gone.box == (0, 0, 0, 0)
    assert np.array_equal(gone.image, render_background(p.background_seed))


def test_backgrounds_are_cluttered_and_seeded():
    a, b = render_background(1), render_background(2)
    assert a.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_background(1)) and not np.array_equal(a, b)
    assert render_background(1, size=32).shape == (32, 32, 3)
    stds = [render_background(k).reshape(-1, 3).std(axis=0).mean() for k in range(20)]
    assert min(stds) > 3.0  # never a flat colour


def test_other_image_sizes():
    s = make_sample(1, 2, size=40)
    assert s.image.shape == (40, 40, 3) and s.mask.shape == (40, 40)
    assert 0.25 * 40 <= 2 * s.params.radius <= 0.70 * 40
    images, _ = make_batch(1, 2, 3, size=40)
    assert np.array_equal(images[0], s.image)


def test_statistics_of_the_world(many_params):
    labels = np.array([p.label for p in many_params])
    counts = np.bincount(labels, minlength=len(CLASSES))
    assert counts.min() >= 150 and counts.max() <= 250, counts
    extent = np.array([2 * p.radius for p in many_params]) / IMAGE_SIZE
    assert extent.min() >= 0.25 and extent.max() <= 0.70
    assert extent.min() < 0.27 and extent.max() > 0.68  # spans the range
    for p in many_params:  # unit disk at least ~1 px inside the image
        assert min(p.cy, p.cx) - p.radius >= 0.5 - 1e-9
        assert max(p.cy, p.cx) + p.radius <= IMAGE_SIZE - 1.5 + 1e-9
        assert 0.0 <= p.angle < 2 * np.pi
        assert all(0 <= c <= 255 for c in p.color)
    colors = np.array([p.color for p in many_params], float)
    overall = colors.mean(axis=0)
    for label in range(len(CLASSES)):
        assert np.abs(colors[labels == label].mean(axis=0) - overall).max() < 25.0
    images, batch_labels = make_batch(5, 0, 50)
    assert np.array_equal(batch_labels, labels[:50])


def test_object_contrasts_with_the_background_under_it(many_params):
    for p in many_params[:60]:
        s = render(p)
        mean = render_background(p.background_seed)[s.mask].mean(axis=0)
        assert np.linalg.norm(np.array(p.color) - mean) >= 90.0 - 1e-6

"""``jaxvis correspondence``: Zeiler & Fergus's Table 1 on the demo world.
For each named part (from the generator's ground truth), the first N
generated images of that part's class, each occluded by a square of the
model's mean colour centred on the part, and the same images occluded at a
random position on the object (a random pixel of its mask as the centre),
so that the control also hides object, not mostly background; Δ_l (mean ±
std over image pairs) at each layer. For your
own images, ``config.parts_file``: a JSON {part: {image path: [y0, x0, y1,
x1], ...}, ...} of boxes in the model's input coordinates (after resize and
crop), each part with at least two images.
"""

from __future__ import annotations

import html
import json
import os

import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import correspondence as C
from jaxvis.analysis.sources import read_image
from jaxvis.data import shapes
from jaxvis.errors import ConfigError
from jaxvis.jobs.gallery import page


def _generated_parts(config) -> dict[str, tuple[np.ndarray, list, list]]:
    """{"class:part": (images [N, S, S, 3], part boxes [N], object masks [N])} from the demo world."""
    out = {}
    for spec in config.parts:
        cls, part = spec.split(":")  # the form and the class: check_config
        images, boxes, masks, i = [], [], [], 0
        while len(images) < config.images_per_part and i < 50 * config.images_per_part:
            s = shapes.make_sample(config.shapes_seed, i)
            i += 1
            if shapes.CLASSES[s.label] != cls:
                continue
            if part not in s.parts:
                raise ConfigError(f"config.parts: class {cls!r} has no part {part!r}; its parts: "
                                  f"{', '.join(s.parts) or 'none'}")
            images.append(s.image)
            boxes.append(C.centred_box(*s.parts[part], config.size))
            masks.append(s.mask)
        out[spec] = (np.stack(images), boxes, masks)
    return out


def _file_parts(config, net) -> dict[str, tuple[np.ndarray, list, list]]:
    """Like _generated_parts; no masks (random occluders may fall anywhere)."""
    try:
        with open(config.parts_file) as f:
            table = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"config.parts_file: cannot read {config.parts_file}: {e}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"config.parts_file: {config.parts_file} holds a {type(table).__name__}, expected "
                          "{part: {image path: [y0, x0, y1, x1], ...}, ...}")
    out = {}
    base = os.path.dirname(os.path.abspath(config.parts_file))
    for part, entries in table.items():
        if not isinstance(entries, dict) or len(entries) < 2:
            raise ConfigError(f"config.parts_file: part {part!r} in {config.parts_file} needs at least two images "
                              "with a box each")
        images, boxes = [], []
        for path, box in entries.items():
            full = path if os.path.isabs(path) else os.path.join(base, path)
            if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, (int, float)) for v in box):
                raise ConfigError(f"config.parts_file: box of {path} for part {part!r} must be [y0, x0, y1, x1], "
                                  f"got {box}")
            try:
                images.append(read_image(full, net))
            except (OSError, ValueError) as e:  # Pillow's UnidentifiedImageError is an OSError
                raise ConfigError(f"config.parts_file: image {full} of part {part!r} cannot be read: {e}") from None
            boxes.append(tuple(box))
        out[part] = (np.stack(images), boxes, [None] * len(boxes))
    return out


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.weights(config)
    checks.layers(definition, config, allow_empty=False)
    if not checks.existing_file(config, "parts_file"):
        for spec in checks.names(config, "parts", allow_empty=False):
            cls, sep, part = spec.partition(":")
            if not sep or not part or ":" in part:
                raise ConfigError(f"config.parts: {spec!r} is not 'class:part', e.g. 'arrow:tip'")
            if cls not in shapes.CLASSES:
                raise ConfigError(f"config.parts: unknown class {cls!r} in part {spec!r}; classes: "
                                  f"{', '.join(shapes.CLASSES)}")
        checks.integer(config, "shapes_seed", 0)
        checks.integer(config, "images_per_part", 2)
    checks.integer(config, "size", 1, min(definition.input_shape[:2]))
    checks.integer(config, "random_seed", 0)


def run_correspondence(config, workdir: str) -> dict:
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    parts = _file_parts(config, net) if config.parts_file else _generated_parts(config)  # checks parts and boxes
    wd.claim(workdir, config.to_dict())
    fill = C.mean_colour(net.spec)
    rng = np.random.default_rng(config.random_seed)
    h, w = net.definition.input_shape[:2]
    table = {}
    for name, (images, boxes, masks) in parts.items():
        occluded = np.stack([C.occlude_box(im, b, fill) for im, b in zip(images, boxes)])
        random_boxes = [C.random_box(rng, (b[2] - b[0], b[3] - b[1]), (h, w), m) for b, m in zip(boxes, masks)]
        shuffled = np.stack([C.occlude_box(im, b, fill) for im, b in zip(images, random_boxes)])
        row = {"images": len(images)}
        for kind, occ in (("part", occluded), ("random", shuffled)):
            eps = C.feature_changes(net, images, occ, config.layers)
            for layer in config.layers:
                d = C.sign_hamming(eps[layer])
                row[f"{kind}_{layer}"] = [float(d.mean()), float(d.std())]
        table[name] = row
    files.write_json(os.path.join(workdir, "correspondence.json"), table)
    head = "".join(f"<th>{html.escape(l)} part</th><th>{html.escape(l)} random</th>" for l in config.layers)
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{r['images']}</td>"
        + "".join(f"<td>{r[f'part_{l}'][0]:.3f} ± {r[f'part_{l}'][1]:.3f}</td>"
                  f"<td>{r[f'random_{l}'][0]:.3f} ± {r[f'random_{l}'][1]:.3f}</td>" for l in config.layers)
        + "</tr>" for n, r in table.items())
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis correspondence: {net.name}",
        f"<p>Δ: mean ± std over image pairs of the normalised Hamming distance between the signs of the "
        f"feature changes; lower than random = the part is treated alike across images. Occluder: "
        f"{config.size}px square of the mean colour.</p><table><tr><th>part</th><th>images</th>{head}</tr>"
        f"{rows}</table><p><a href='correspondence.json'>correspondence.json</a></p>"))
    return table

"""``jaxvis occlusion``: occlusion sensitivity maps (Zeiler & Fergus Fig. 7)
for a set of images, every occluder position of an image in one batched
call, in resumable chunks of images, with the pointing game on the demo
world: is the position where the correct class's probability drops most
inside the object's box?

Layout of the workdir::

    config.json, summary.json, index.html
    images/<index>/panels.png   (a) image, (b) strongest conv5 map's total, (d) p(correct), (e) top class
    images/<index>/meta.json
"""

from __future__ import annotations

import html
import os

import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import sources
from jaxvis.analysis.occlusion import FILLS, occlusion_maps
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.jobs import chunked, hosts
from jaxvis.jobs.gallery import page
from jaxvis.render import colormaps
from jaxvis.render.grids import grid, save_png


def _image_dir(workdir: str, i: int) -> str:
    return os.path.join(workdir, "images", f"{i:05d}")


def _images(source, first: int, count: int):
    """(index, image, ground-truth Sample or None) for the chunk's valid images."""
    if isinstance(source, GeneratedImages):
        for i in range(first, first + count):
            sample = source.sample(i)
            yield i, sample.image, sample
        return
    images, valid = source.batch(first, first + count)
    for j in np.flatnonzero(valid):
        yield first + int(j), images[j], None


def _run_chunk(net, config, source, chunk, workdir) -> list[dict]:
    metas = []
    for i, image, sample in _images(source, chunk["first"], chunk["count"]):
        x = net.preprocess(image)[0]
        truth = None if sample is None else sample.label
        label = truth if truth is not None else int(np.argmax(np.asarray(net.probabilities(net.blobs(x[None])))[0]))
        m = occlusion_maps(net, x, label, config.size, config.stride, layer=config.layer, fill=config.fill)
        hw = image.shape[:2]
        panels = [image, colormaps.enlarge(colormaps.heat(m.feature_total), hw),
                  colormaps.enlarge(colormaps.heat(m.prob, 0.0, 1.0), hw),
                  colormaps.enlarge(colormaps.labels(m.top_label), hw)]
        d = _image_dir(workdir, i)
        files.remove_temporaries(d)
        save_png(grid(np.stack(panels), cols=4, pad=4), os.path.join(d, "panels.png"), scale=config.scale)
        cy, cx = m.most_sensitive()
        meta = {"index": i, "name": source.name(i), "label": label, "label_is_truth": truth is not None,
                "base_prob": m.base_prob, "min_prob": float(m.prob.min()), "most_sensitive": [cy, cx],
                "feature_map": m.feature_map, "grid": list(m.grid)}
        if truth is not None:
            y0, x0, y1, x1 = sample.box
            meta["box"] = list(sample.box)
            meta["inside_box"] = bool(y0 <= cy < y1 and x0 <= cx < x1)
        files.write_json(os.path.join(d, "meta.json"), meta)
        metas.append(meta)
    return metas


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.roles(definition, "model", "prob_layer", "class_layer")
    checks.weights(config)
    if checks.source(config) == "shapes":
        checks.integer(config, "shapes_seed", 0)
        checks.integer(config, "images", 1)
    checks.integer(config, "size", 1, min(definition.input_shape[:2]))
    checks.integer(config, "stride", 1)
    checks.one_of(config, "fill", FILLS)
    checks.layer(definition, config, "layer", spatial=True)
    checks.integer(config, "chunk_images", 1)
    checks.integer(config, "scale", 1)


def run_occlusion(config, workdir: str) -> dict:
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    source = sources.from_config(config, net)
    wd.claim(workdir, config.to_dict())
    chunks = [{"id": f"images-{first:05d}", "first": first, "count": min(config.chunk_images, len(source) - first)}
              for first in range(0, len(source), config.chunk_images)]
    info = chunked.run(workdir, chunks, lambda c: {"chunk": c, "images": _run_chunk(net, config, source, c, workdir)},
                       cost=lambda c: c["count"], units=lambda c: c["count"])
    summary = {}
    if hosts.index() == 0:
        metas = [m for r in chunked.read_records(workdir, chunks) for m in r["images"]]
        judged = [m["inside_box"] for m in metas if "inside_box" in m]
        summary = {"images": len(metas), "skipped": len(source) - len(metas),
                   "pointing_game": float(np.mean(judged)) if judged else None, "judged": len(judged),
                   "size": config.size, "stride": config.stride, "fill": config.fill}
        files.remove_temporaries(workdir)
        files.write_json(os.path.join(workdir, "summary.json"), summary)
        _write_index(workdir, net, config, metas, summary)
    return {**summary, **info}


def _write_index(workdir: str, net, config, metas: list[dict], summary: dict) -> None:
    classes = net.layer(net.prob_layer or net.require("class_layer", "occlusion")).channels
    names = net.spec.class_names or tuple(str(i) for i in range(classes))
    legend = " ".join(f"<span style='background:rgb{tuple(int(v) for v in colormaps.PALETTE[k % 10])};"
                      f"padding:0 6px'>&nbsp;</span> {html.escape(n)}" for k, n in enumerate(names))
    rows = "".join(
        f"<tr><td>{html.escape(m['name'])}</td><td><img src='images/{m['index']:05d}/panels.png' alt='panels'></td>"
        f"<td>{html.escape(names[m['label']])}{'' if m['label_is_truth'] else ' (predicted)'}<br>p {m['base_prob']:.3f}"
        f" -> min {m['min_prob']:.3g}<br>"
        f"{'inside box' if m.get('inside_box') else ('outside box' if 'inside_box' in m else '')}"
        f"</td></tr>" for m in metas)
    game = ("" if summary["pointing_game"] is None else
            f" Pointing game: the most sensitive position lies inside the object's box for "
            f"{100 * summary['pointing_game']:.1f}% of {summary['judged']} images.")
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis occlusion: {net.name}",
        f"<p>{config.size}x{config.size} occluder ({config.fill}), stride {config.stride}; panels: image, total of "
        f"the strongest {config.layer} map, p(correct class) (blue 0 .. red 1), most probable class.{game} "
        f"<a href='summary.json'>summary.json</a></p><p>{legend}</p><table>{rows}</table>"))

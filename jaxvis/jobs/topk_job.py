"""``jaxvis topk``: the top-k images of every unit of the chosen layers over
an image stream (the generated demo world or a folder), with the patch under
each unit's receptive field and its deconvolution (Zeiler & Fergus Fig. 2).
A token blob's units are ranked over its patch tokens and, as their own
sets ``<layer>@token<k>``, at each prefix token; their pictures are whole
images with the channel's patch map over them (``jaxvis.analysis.topk``).
With ``config.dictionary`` (a ``jaxvis dictionary`` workdir) the network has
the blob ``<layer>.features`` (``jaxvis.with_dictionary``), whose features
are ranked and projected like channels; the default layers are then the
features.

Two resumable stages:

1. the stream: a running top-k per unit, merged batch by batch; its state
   (``topk_state.npz``, write-then-rename) is saved every ``save_every``
   batches, so a killed run continues from the last save and memory does not
   grow with the number of images;
2. the pictures: chunks of units (``chunks/<layer>-<first>.json``), each
   fetching its units' top images again by index and projecting them with
   one batched deconv (``units_per_layer`` N > 0: the pictures of each
   layer's first N channels only; the stream ranks them all).

Layout of the workdir::

    config.json, topk_state.npz, summary.json
    units/<layer>/<channel>/patches.png, deconvs.png, meta.json, index.html
    layers/<layer>.html
    index.html
"""

from __future__ import annotations

import collections
import io
import os
import time

import numpy as np
from absl import logging

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import sources, topk
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.backward.projection import project
from jaxvis.data import shapes
from jaxvis.dictionary.features import with_config_dictionary
from jaxvis.jobs import chunked, hosts, topk_gallery
from jaxvis.errors import ConfigError
from jaxvis.jobs.paths import topk_unit_dir
from jaxvis.ops.backward import RELU_MODES
from jaxvis.render.grids import grid, save_png

STATE = "topk_state.npz"


def _save_state(path: str, tops: dict, next_index: int, skipped: list[int], class_sums, class_counts) -> None:
    arrays = {f"{layer}/{k}": v for layer, top in tops.items() for k, v in top.items()}
    buf = io.BytesIO()
    np.savez(buf, next_index=next_index, skipped=np.asarray(skipped, np.int64), class_counts=class_counts,
             **arrays, **{f"class_sums/{l}": v for l, v in class_sums.items()})
    files.write_bytes(path, buf.getvalue())


def _load_state(path: str, names) -> tuple[dict, int, list[int], dict, np.ndarray]:
    with np.load(path) as z:
        tops = {l: {k: z[f"{l}/{k}"] for k in ("value", "image", "y", "x")} for l in names}
        sums = {l: z[f"class_sums/{l}"] for l in names}
        return tops, int(z["next_index"]), z["skipped"].tolist(), sums, z["class_counts"]


def stream(net, config, source, layers, workdir: str) -> None:
    """Stage 1: the running top-k over the whole source (resumes from the saved
    state, and leaves the final one in it) of every unit set of ``layers``
    (``topk.unit_sets``). Also, for the shapes source, the per-class sums of
    each channel's maximum, for selectivity."""
    path = os.path.join(workdir, STATE)
    n_classes = len(shapes.CLASSES)
    sets = [(name, net.layer(layer).channels) for name, layer, _ in topk.unit_sets(net, layers)]
    if os.path.isfile(path):
        tops, start, skipped, sums, counts = _load_state(path, [name for name, _ in sets])
    else:
        tops = {name: topk.empty(channels, config.k) for name, channels in sets}
        start, skipped = 0, []
        sums = {name: np.zeros((n_classes, channels), np.float64) for name, channels in sets}
        counts = np.zeros(n_classes, np.int64)
    total, t0, batches = len(source), time.time(), 0
    logging.info("topk: %d images, %d already streamed", total, start)
    for lo in range(start, total, config.batch):
        hi = min(lo + config.batch, total)
        images, valid, labels = source.labelled_batch(lo, hi)
        skipped += [lo + j for j in np.flatnonzero(~valid)]
        maxima = topk.channel_maxima(net, net.preprocess(images), layers)
        for l in tops:
            tops[l] = topk.merge(tops[l], *maxima[l], np.arange(lo, hi), valid)
        if labels is not None:
            for l in tops:
                np.add.at(sums[l], labels, maxima[l][0])
            np.add.at(counts, labels, 1)
        batches += 1
        if batches % config.save_every == 0 or hi == total:
            _save_state(path, tops, hi, skipped, sums, counts)
            rate = (hi - start) / (time.time() - t0)
            logging.info("topk: images %d/%d  %.0f images/s  eta %ds", hi, total, rate, (total - hi) / rate)
    if not os.path.isfile(path):  # nothing to stream (0 images): the empty state
        _save_state(path, tops, total, skipped, sums, counts)
    if skipped:
        logging.warning("topk: skipped %d unreadable file(s) of %d", len(skipped), total)


def _fetch(source, ids) -> dict[int, tuple[np.ndarray, int | None]]:
    """{image id: (image, label or None)} for the distinct ids."""
    out = {}
    for i in sorted(set(int(i) for i in ids if i >= 0)):
        images, _, labels = source.labelled_batch(i, i + 1)
        out[i] = (images[0], None if labels is None else int(labels[0]))
    return out


def _run_chunk(net, config, source, top, chunk, workdir) -> list[dict]:
    name, layer, token = chunk["set"], chunk["layer"], chunk["token"]
    info = net.layer(layer)
    rows = [(c, j) for c in chunk["channels"] for j in range(config.k) if top["image"][c, j] >= 0]
    images = _fetch(source, [top["image"][c, j] for c, j in rows])
    metas = []
    if rows:
        pictures, deconv = topk.unit_pictures(net, np.stack([images[int(top["image"][c, j])][0] for c, j in rows]),
                                              layer, [c for c, _ in rows], np.array([top["y"][c, j] for c, j in rows]),
                                              np.array([top["x"][c, j] for c, j in rows]), config.mode, token)
    for c in chunk["channels"]:
        d = topk_unit_dir(workdir, name, c)
        files.remove_temporaries(d)
        mine = [(r, j) for r, (cc, j) in enumerate(rows) if cc == c]
        entries, patches, deconvs = [], [], []
        for r, j in mine:
            i, y, xx = int(top["image"][c, j]), int(top["y"][c, j]), int(top["x"][c, j])
            image, label = images[i]
            patches.append(pictures[r])
            deconvs.append(deconv[r])
            entries.append({"image": i, "name": source.name(i), "value": float(top["value"][c, j]), "y": y, "x": xx})
            if label is not None:
                entries[-1]["class"] = shapes.CLASSES[label]
        if patches:
            save_png(grid(np.stack(patches), cols=3), os.path.join(d, "patches.png"), min_size=96)
            save_png(grid(np.stack(deconvs), cols=3), os.path.join(d, "deconvs.png"), min_size=96)
        meta = {"layer": name, "channel": c, "entries": entries, "mode": config.mode}
        if name != layer or info.tokens is not None:
            meta.update(blob=layer, token=token)
        files.write_json(os.path.join(d, "meta.json"), meta)
        metas.append(meta)
    return metas


def class_summary(metas_by_layer: dict, sums: dict, counts: np.ndarray, quantile: float = 0.75) -> dict:
    """Shapes source only: per layer, how often a unit's top images share one class,
    over all units and over the class-selective ones (selectivity, from the
    per-class mean maxima of the whole stream, in the top quarter)."""
    out = {}
    for layer, metas in metas_by_layer.items():
        means = sums[layer] / np.maximum(counts, 1)[:, None]  # [classes, C]
        best = means.max(axis=0)
        others = (means.sum(axis=0) - best) / max(len(counts) - 1, 1)
        selectivity = (best - others) / np.maximum(np.abs(best) + np.abs(others), 1e-12)
        cut = np.quantile(selectivity, quantile)
        share, all_same = {}, {}
        for m in metas:
            classes = [e["class"] for e in m["entries"]]
            if classes:
                top_count = collections.Counter(classes).most_common(1)[0][1]
                share[m["channel"]] = top_count / len(classes)
                all_same[m["channel"]] = top_count == len(classes)
        selective = [c for c in share if selectivity[c] >= cut]
        out[layer] = {
            "units": len(share), "mean_majority_share": float(np.mean(list(share.values()))),
            "all_one_class": float(np.mean(list(all_same.values()))),
            "selective_units": len(selective),
            "selective_mean_majority_share": float(np.mean([share[c] for c in selective])) if selective else None,
            "selective_all_one_class": float(np.mean([all_same[c] for c in selective])) if selective else None,
        }
    return out


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.weights(config)
    checks.layers_with_features(definition, config, checks.dictionary(config, definition))
    if checks.source(config) == "shapes":
        checks.integer(config, "shapes_seed", 0)
        checks.integer(config, "images", 1)
    for name in ("k", "batch", "save_every", "chunk_units"):
        checks.integer(config, name, 1)
    if "units_per_layer" in config:
        checks.integer(config, "units_per_layer", 0)
    checks.one_of(config, "mode", RELU_MODES)
    if checks.existing_folder(config, "optimized"):
        checks.text(config, "optimized_preset")


def _check_projections(net, layers, mode: str) -> None:
    """A token blob's projections in ``mode`` exist (a transformer's GELU and
    softmax have no deconv or guided rule): one projection of one grey image,
    before the stream, so the error comes before the work."""
    for layer in layers:
        if net.layer(layer).tokens is not None and mode != "backprop":
            grey = net.preprocess(np.full((1, *net.definition.input_shape[:2], 3), 128, np.uint8))
            try:
                project(net, grey, layer, 0, mode=mode)
            except ConfigError as e:
                raise ConfigError(f"config.mode: {mode!r} projections of {net.name} layer {layer!r} do not exist "
                                  f"({e}); use --config.mode=backprop") from None


def run_topk(config, workdir: str) -> dict:
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    net = with_config_dictionary(net, config)
    layers = tuple(config.layers) or tuple(net.default_layers())
    _check_projections(net, layers, config.mode)
    source = sources.from_config(config, net)
    wd.claim(workdir, config.to_dict(), added={"dictionary": ""})  # a workdir from before config.dictionary
    t0 = time.time()
    if hosts.index() == 0:  # the stream is one sequential pass; the pictures are shared out
        stream(net, config, source, layers, workdir)
    hosts.barrier("jaxvis-topk-stream")
    sets = topk.unit_sets(net, layers)
    tops, _, skipped, sums, counts = _load_state(os.path.join(workdir, STATE), [name for name, _, _ in sets])
    stream_s = time.time() - t0
    shown = {l: min(net.layer(l).channels, config.get("units_per_layer", 0) or net.layer(l).channels) for l in layers}
    chunks = [{"id": f"{name}-{first:05d}", "set": name, "layer": l, "token": token,
               "channels": list(range(first, min(first + config.chunk_units, shown[l])))}
              for name, l, token in sets for first in range(0, shown[l], config.chunk_units)]

    def run_chunk(chunk):
        return {"chunk": chunk, "units": _run_chunk(net, config, source, tops[chunk["set"]], chunk, workdir)}

    info = chunked.run(workdir, chunks, run_chunk, cost=lambda c: len(c["channels"]),
                       units=lambda c: len(c["channels"]))
    summary = {"images": len(source), "skipped": len(skipped), "stream_seconds": round(stream_s, 1)}
    if hosts.index() == 0:
        by_layer = collections.defaultdict(list)
        for chunk, record in zip(chunks, chunked.read_records(workdir, chunks)):
            by_layer[chunk["set"]].extend(record["units"])
        if isinstance(source, GeneratedImages):
            summary["classes"] = class_summary(by_layer, sums, counts)
        files.remove_temporaries(workdir)
        files.write_json(os.path.join(workdir, "summary.json"), summary)
        topk_gallery.write(workdir, net, config, by_layer, summary)
    return {**summary, **info}

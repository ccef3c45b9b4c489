"""``jaxvis visualize``: every unit of the chosen layers x restarts x presets,
as fixed chunks of units. A chunk's files are written first and its record
``chunks/<id>.json`` last (write-then-rename), so re-running the same
command after a crash or ``kill -9`` skips exactly the finished chunks and
recomputes the others with the same batches, seeds and therefore pixels.

Layout of the workdir::

    config.json                     the config that made it (another is refused)
    chunks/<preset>-<layer>-<first>.json
    units/<preset>/<layer>/<channel>/restart_<r>.png, grid.png, meta.json, index.html
                                    (with scores also patches.png, deconvs.png: the top-9)
    unit_pages/<layer>/<channel>.html  the unit's page: every preset, top-9, scores
    layers/<preset>/<layer>.png      one image per unit (the best restart): Figure S1
    layers/<preset>/<layer>_figure5.png  the strongest units, 4 restarts each at their true size (Figure 5)
    layers/<preset>/<layer>.html     every unit, labelled, sortable by each score
    figure5_<preset>.png            every layer's Figure 5 row
    index.html                      the gallery's front page: each preset's mean scores per layer

With several processes (``jaxvis.jobs.hosts``) each runs its share of the
chunks and process 0 writes the montages and the gallery at the end.

Scores (``config.score_images`` > 0; ``jaxvis.jobs.unit_scores`` defines
them): each chunk scores its units and writes them in each unit's
``meta.json`` under ``"scores"``, so they are resumable with the chunk's
record. The scoring images are ``config.score_folder``'s first
``score_images`` images when it is set; else, for a model of the demo world
(its class names are ``jaxvis.data.shapes.CLASSES``), ``score_images``
generated images of world seed ``config.score_seed`` (default 2: the demo
networks were trained on seeds 1000 and 2000 and evaluated on 9999); else
none, and the scores that need them are None (the pages say so). The judge,
``config.judge``, is an independently trained network by zoo name
(``demo_b`` for ``demo``); without one the judge's scores are None. A
process loads the scoring images, the judge and each layer's dataset
statistics once, when its first chunk needs them, and keeps them in memory
(``_Scoring``).
"""

from __future__ import annotations

import functools
import json
import os

import ml_collections
import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import topk
from jaxvis.analysis.sources import FolderImages, GeneratedImages
from jaxvis.data import shapes
from jaxvis.dictionary.features import with_config_dictionary
from jaxvis.errors import ConfigError, JaxvisError
from jaxvis.jobs import chunked, gallery, hosts, unit_scores
from jaxvis.jobs.paths import blob_file_name, visualize_unit_dir
from jaxvis.optimize.families import color_statistics, is_demo_world
from jaxvis.optimize.presets import label as preset_label
from jaxvis.optimize.presets import preset as load_preset
from jaxvis.optimize.visualization import has_crops
from jaxvis.render.grids import field_crop, grid, montage, save_png, stack_rows, unit_grid

# The scores' fields with their defaults: none of them changes the images, and
# a workdir made before they existed resumes with these values.
SCORE_DEFAULTS = {"judge": "", "score_images": 0, "score_seed": 2, "mis_trials": 40, "mis_layer": "",
                  "score_folder": ""}


def job_config(**fields) -> ml_collections.ConfigDict:
    """The fields of a ``jaxvis visualize`` config with their defaults (the
    paper's settings), ``fields`` replacing some; configs/ files start here."""
    c = ml_collections.ConfigDict()
    c.model = "caffenet"
    c.weights = ""  # a .caffemodel, state dict or jaxvis model directory; "": shipped weights, else random
    c.spec = ""  # a .keras model's preprocessing: 'caffe' | 'tf' | 'torch' | a JSON PreprocessSpec; "": the model's
    c.dictionary = ""  # a `jaxvis dictionary` workdir: its features are the blob <layer>.features
    c.layers = ()  # empty: every conv layer and the class layer (with a dictionary: its features)
    c.units_per_layer = 0  # 0: every channel of each layer; N: its first N channels (a quick look at a big network)
    c.presets = ("row3",)  # Table 1 rows, or FILE.py:NAME preset files
    c.restarts = 9
    c.steps = 0  # 0: the preset's own step count (1000 for row 3)
    c.seed = 0
    c.chunk_units = 16  # units per compiled batch (x restarts); one resumable record each
    c.grid_scale = 1  # PNG enlargement of grids and montages
    c.figure5_units = 8  # units per layer in the Figure 5 image sets (the strongest)
    # Quality scores (jaxvis/jobs/unit_scores.py), in each unit's meta.json and the gallery:
    c.judge = SCORE_DEFAULTS["judge"]  # the independent network by zoo name (demo_b for demo); "": none
    c.score_images = SCORE_DEFAULTS["score_images"]  # scoring images; 0: no scores at all
    c.score_seed = SCORE_DEFAULTS["score_seed"]  # demo-world seed of the scoring images (not a training seed)
    c.mis_trials = SCORE_DEFAULTS["mis_trials"]  # forced-choice trials per unit
    c.mis_layer = SCORE_DEFAULTS["mis_layer"]  # the judge's blob the forced choice compares in; "": its penultimate
    c.score_folder = SCORE_DEFAULTS["score_folder"]  # a folder of scoring images (replaces the demo world)
    unknown = set(fields) - set(c)
    if unknown:
        raise ConfigError(f"unknown visualize config field(s) {', '.join(sorted(unknown))}; known: {', '.join(c)}")
    c.update(fields)
    return c


def plan_chunks(net, config) -> list[dict]:
    """[{id, preset, preset_name, layer, channels}] in a fixed order: presets,
    layers, channels. ``preset`` is the label used in file names, one path
    component (``presets.label``: FILE.py:NAME gives NAME, DIR/FILE.py gives
    FILE), ``preset_name`` what loads it."""
    layers = list(config.layers) or net.default_layers()
    chunks, named = [], {}
    for name in config.presets:
        preset = preset_label(name)
        if preset in named:
            raise ConfigError(f"config.presets: {named[preset]!r} and {name!r} would share the file name "
                              f"{preset!r}; expected each preset once, each with its own name")
        named[preset] = name
        for layer in layers:
            channels = net.layer(layer).channels  # UnitError names the layers
            if config.get("units_per_layer", 0):
                channels = min(channels, int(config.units_per_layer))
            for first in range(0, channels, config.chunk_units):
                ids = list(range(first, min(first + config.chunk_units, channels)))
                chunks.append({"id": f"{preset}-{blob_file_name(layer)}-{first:05d}", "preset": preset,
                               "preset_name": name,
                               "layer": layer, "channels": ids})
    return chunks


class _Scoring:
    """What the scores need beyond a chunk's own images, loaded once per
    process when first needed and kept in memory: the judge, the scoring
    images (uint8 at the network's input size) with their labels, and a dict
    of dataset statistics keyed by layer."""

    def __init__(self, net, config):
        self.net, self.config = net, config
        self._judge, self._data, self._stats = None, None, {}

    @property
    def judge(self):
        if self._judge is None and self.config.judge:
            self._judge = jaxvis.load_model(self.config.judge)
        return self._judge

    @property
    def data(self) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """(images or None, labels or None, what they are in words)."""
        if self._data is None:
            self._data = scoring_images(self.net, self.config)
        return self._data

    def statistics(self, layer: str) -> unit_scores.DatasetStatistics | None:
        images = self.data[0]
        if images is None:
            return None
        if layer not in self._stats:
            self._stats[layer] = unit_scores.dataset_statistics(self.net, layer, images)
        return self._stats[layer]


def scoring_images(net, config) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(images [N, h, w, 3] uint8 at the network's input size, labels [N] or
    None, a description) of the scores: ``config.score_folder``'s first
    ``score_images`` image files (sorted; files that do not decode are
    skipped), else for a demo-world model ``score_images`` generated images of
    seed ``score_seed``; else (None, None, why there are none)."""
    n = int(config.score_images)
    size = tuple(net.definition.input_shape[:2])
    if config.score_folder:
        source = FolderImages(config.score_folder, net)
        count = min(n, len(source))
        images, valid = source.batch(0, count)
        if not valid.any():
            raise ConfigError(f"config.score_folder: none of the first {count} image files of {config.score_folder} "
                              "decodes; expected a folder of images")
        skipped = f", {int((~valid).sum())} that do not decode skipped" if not valid.all() else ""
        return images[valid], None, f"the first {count} image files of {config.score_folder}{skipped}"
    if is_demo_world(net):
        images, _, labels = GeneratedImages(int(config.score_seed), n).labelled_batch(0, n)
        if images.shape[1:3] != size:
            images = net.deprocess(net.preprocess(images))
        return images, labels, f"{n} generated images of the demo world, seed {config.score_seed}"
    return None, None, (f"none ({net.name} does not classify the demo world and config.score_folder is empty), so "
                        "the activation, plausibility and forced-choice scores are not computed")


def _top9(net, layer: str, channels, stats, images, labels, batch: int) -> dict[int, tuple[list, list, list]]:
    """{channel: (entries, patches, deconvs)}: each channel's top-9 scoring
    images (ranks 1..9), the receptive-field patch at each image's maximum and
    its deconvolution (``jaxvis.project`` mode "deconv" of the image, seeded at
    that unit; one batched call padded to ``batch`` rows, so a layer compiles
    once); a token blob's: the whole image under its patch map; a
    transformer's projections are backprop (``topk.unit_pictures``,
    ``topk.projection_mode``)."""
    info = net.layer(layer)
    rows = [(c, int(i)) for c in channels for i in stats.strongest(c, unit_scores.NATURAL)]
    if not rows:
        return {c: ([], [], []) for c in channels}
    pad = max(batch - len(rows), 0)
    padded = rows + [rows[0]] * pad
    ys = np.array([stats.y[i, c] for c, i in padded])
    xs = np.array([stats.x[i, c] for c, i in padded])
    pictures, deconvs = topk.unit_pictures(net, images[[i for _, i in padded]], layer, [c for c, _ in padded], ys,
                                           xs, mode=topk.projection_mode(net))
    out = {c: ([], [], []) for c in channels}
    for (c, i), y, x, picture, d in zip(rows, ys, xs, pictures, deconvs):
        entry = {"image": i, "value": float(stats.values[i, c]),
                 "y": int(y) if info.grid else None, "x": int(x) if info.grid else None}
        if labels is not None:
            entry["class"] = shapes.CLASSES[int(labels[i])]
        out[c][0].append(entry)
        out[c][1].append(picture)
        out[c][2].append(d)
    return out


def _run_chunk(net, config, chunk, workdir, scoring: _Scoring | None = None, colours=None) -> list[dict]:
    overrides = {"steps": int(config.steps)} if config.steps else {}
    units = [(chunk["layer"], c) for c in chunk["channels"]]
    statistics = colours() if colours and load_preset(chunk["preset_name"]).family != "pixel" else None
    res = jaxvis.visualize(net, units, preset=chunk["preset_name"], restarts=config.restarts, seed=config.seed,
                           statistics=statistics, **overrides)
    if scoring is not None:
        images, labels, described = scoring.data
        stats = scoring.statistics(chunk["layer"])
        top = (_top9(net, chunk["layer"], chunk["channels"], stats, images, labels,
                     unit_scores.NATURAL * int(config.chunk_units)) if stats is not None else {})
    metas = []
    for i, (layer, channel, y, x) in enumerate(res.units):
        out = visualize_unit_dir(workdir, chunk["preset"], layer, channel)
        for r in range(config.restarts):
            save_png(res.images[i, r], os.path.join(out, f"restart_{r}.png"))
        save_png(unit_grid(res.images[i]), os.path.join(out, "grid.png"), scale=config.grid_scale)
        trace = res.trace[i]
        meta = {
            "model": net.name, "preset": chunk["preset"], "layer": layer, "channel": channel,
            "y": y if net.layer(layer).grid else None, "x": x if net.layer(layer).grid else None,
            "seed": config.seed, "restarts": config.restarts,
            "best_value": res.best_value[i].tolist(), "best_step": res.best_step[i].tolist(),
            "failed_step": res.failed_step[i].tolist(),
            "trace_summary": {"first": trace[:, 0].tolist() if trace.shape[1] else [],
                              "last": trace[:, -1].tolist() if trace.shape[1] else [],
                              "max": np.nanmax(trace, axis=1).tolist() if trace.shape[1] else []},
            "theta": {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in res.theta.items()},
            "best_restart": int(np.argmax(res.best_value[i])),
        }
        if statistics is not None:
            meta["color_statistics"] = statistics.source
        name = gallery.class_name(net, layer, channel)
        if name is not None:
            meta["class_name"] = name
        if scoring is not None:
            spatial = net.layer(layer).spatial
            meta["scores"] = unit_scores.score_unit(
                net, layer, channel, y if spatial else None, x if spatial else None, res.images[i],
                res.best_value[i], judge=scoring.judge, images=images, labels=labels, stats=stats,
                mis_trials=int(config.mis_trials), mis_layer=config.mis_layer or None)
            meta["scoring"] = {"images": described, "judge": config.judge or None, "mis_trials": int(config.mis_trials),
                               "mis_layer": scoring.judge and unit_scores.mis_space(scoring.judge, config.mis_layer)}
            entries, patches, deconvs = top.get(channel, ([], [], []))
            meta["top9"] = entries
            if patches:
                save_png(grid(np.stack(patches), cols=3), os.path.join(out, "patches.png"), min_size=96)
                save_png(grid(np.stack(deconvs), cols=3), os.path.join(out, "deconvs.png"), min_size=96)
        files.write_json(os.path.join(out, "meta.json"), meta)
        metas.append(meta)
    return metas


EXTEND_KEYS = ("layers", "presets")


def _claim(workdir: str, net, config, extend: bool) -> None:
    """The workdir's config must be this one; with ``extend`` it may differ in
    layers and presets as long as every chunk of the old plan stays in the new
    one (nothing finished is orphaned)."""
    path = os.path.join(workdir, wd.CONFIG_FILE)
    if extend and os.path.isfile(path):
        with open(path) as f:
            old = ml_collections.ConfigDict(json.load(f))
        dropped = {c["id"] for c in plan_chunks(net, old)} - {c["id"] for c in plan_chunks(net, config)}
        if dropped:
            raise JaxvisError(f"--extend may only add layers or presets to {workdir}; the new config drops "
                              f"{len(dropped)} of its chunks (e.g. {sorted(dropped)[0]})")
    # a workdir made before the score fields (or spec, ...) existed: they were their defaults
    wd.claim(workdir, config.to_dict(), extend_keys=EXTEND_KEYS if extend else (),
             hint="" if extend else " (or --extend to add layers or presets to it)",
             added={**SCORE_DEFAULTS, "spec": "", "units_per_layer": 0, "dictionary": ""})


def _steps(config, preset: str) -> int:
    return int(config.steps) or int(load_preset(preset).steps)


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.weights(config)
    checks.layers_with_features(definition, config, checks.dictionary(config, definition))
    checks.presets(config)
    checks.integer(config, "restarts", 1)
    checks.integer(config, "units_per_layer", 0)
    checks.integer(config, "steps", 0)
    checks.integer(config, "seed")
    for name in ("chunk_units", "grid_scale", "figure5_units"):
        checks.integer(config, name, 1)
    checks.integer(config, "score_images", 0)
    checks.integer(config, "score_seed", 0)
    checks.integer(config, "mis_trials", 1)
    checks.existing_folder(config, "score_folder")
    mis_layer = checks.text(config, "mis_layer")
    if checks.text(config, "judge"):
        judge = checks.model(config, "judge")
        checks.roles(judge, "judge", "class_layer")
        if mis_layer:
            checks.check_layer(judge, "mis_layer", mis_layer)
    elif mis_layer:
        raise ConfigError(f"config.mis_layer: {mis_layer!r} names a layer of the judge, but config.judge is empty")


def run_visualize(config, workdir: str, extend: bool = False) -> dict:
    """Runs (or resumes) the job; returns {"units", "chunks_run", "chunks_skipped", "seconds"}
    (chunk counts of this process's share)."""
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    net = with_config_dictionary(net, config)
    chunks = plan_chunks(net, config)  # checks the layer names before anything is written
    _claim(workdir, net, config, extend)
    scoring = _Scoring(net, config) if config.score_images else None
    # The Fourier/MaCo families' colours: declared by the spec, else from the job's image folder (once per process).
    colours = functools.cache(lambda: color_statistics(net, job_folder=config.score_folder or None))

    def run_chunk(chunk):
        for c in chunk["channels"]:
            files.remove_temporaries(visualize_unit_dir(workdir, chunk["preset"], chunk["layer"], c))
        return {"chunk": chunk, "units": _run_chunk(net, config, chunk, workdir, scoring, colours)}

    steps = {name: _steps(config, name) for name in config.presets}  # a preset file is read once

    def cost(chunk):  # pixels the objective is computed on, per step
        info = net.layer(chunk["layer"])
        whole = max(net.definition.input_shape[:2])
        side = min(info.rf_size, whole) if has_crops(net) and info.rf_size else whole
        return len(chunk["channels"]) * config.restarts * steps[chunk["preset_name"]] * side * side

    info = chunked.run(workdir, chunks, run_chunk, cost, units=lambda c: len(c["channels"]))
    if hosts.index() == 0:
        _write_layers_and_gallery(net, config, chunks, workdir)
    return {"units": sum(len(c["channels"]) for c in chunks), **info}


def _figure5(net, layer: str, metas: list[dict], workdir: str, preset: str, units: int) -> np.ndarray:
    """Up to ``units`` units of the layer with the highest best values, each as
    its first 4 restarts (2x2) cropped to the unit's receptive field."""
    info = net.layer(layer)
    chosen = sorted(metas, key=lambda m: -max(m["best_value"]))[:units]
    cells = []
    for m in sorted(chosen, key=lambda m: m["channel"]):
        d = visualize_unit_dir(workdir, preset, layer, m["channel"])
        crops = [field_crop(gallery.read_png(os.path.join(d, f"restart_{r}.png")), info, m["y"], m["x"])
                 for r in range(min(4, m["restarts"]))]
        cells.append(grid(np.stack(crops), cols=2, pad=1))
    return grid(np.stack(cells), cols=len(cells), pad=4)


def _write_layers_and_gallery(net, config, chunks, workdir) -> None:
    """Montages, Figure 5 sets and HTML from the chunk records alone (so a resumed run writes the same)."""
    by_layer: dict[tuple[str, str], list[dict]] = {}
    for chunk, record in zip(chunks, chunked.read_records(workdir, chunks)):
        by_layer.setdefault((chunk["preset"], chunk["layer"]), []).extend(record["units"])
    for d in ({visualize_unit_dir(workdir, p, l, m["channel"]) for (p, l), ms in by_layer.items() for m in ms}
              | {workdir} | {os.path.join(workdir, "layers", p) for p, _ in by_layer}):
        files.remove_temporaries(d)
    rows: dict[str, list[np.ndarray]] = {}
    for (preset, layer), metas in by_layer.items():
        best = []
        for m in metas:
            path = os.path.join(visualize_unit_dir(workdir, preset, layer, m["channel"]),
                                f"restart_{m['best_restart']}.png")
            best.append(np.asarray(gallery.read_png(path)))
        save_png(montage(np.stack(best)), os.path.join(workdir, "layers", preset, f"{blob_file_name(layer)}.png"),
                 scale=config.grid_scale)
        fig5 = _figure5(net, layer, metas, workdir, preset, config.figure5_units)
        save_png(fig5, os.path.join(workdir, "layers", preset, f"{blob_file_name(layer)}_figure5.png"),
                 scale=config.grid_scale)
        rows.setdefault(preset, []).append(fig5)
    for preset, figs in rows.items():
        save_png(stack_rows(figs), os.path.join(workdir, f"figure5_{preset}.png"), scale=config.grid_scale)
    gallery.write(workdir, net, config, by_layer)

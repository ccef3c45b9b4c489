"""``jaxvis evolution``: feature evolution during training (Zeiler & Fergus
Fig. 4) and first-layer filters (Fig. 6). For every saved checkpoint of a
training run (``jaxvis train`` exports ``WORKDIR/evolution/epoch_NNN``) and
every chosen unit: the probe image with the unit's strongest activation,
projected down with the deconvnet and cut to the unit's receptive field.
Rows are units, columns checkpoints; plus each checkpoint's filters of ``config.filters`` (conv1).
"""

from __future__ import annotations

import html
import os

import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import topk
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.errors import ConfigError, JaxvisError
from jaxvis.jobs.gallery import page
from jaxvis.models.registry import get_model_def
from jaxvis.render.grids import grid, save_png, stack_rows
from jaxvis.weights import checkpoint


def checkpoints(evolution_dir: str) -> list[str]:
    if not os.path.isdir(evolution_dir):
        raise ConfigError(f"no checkpoints: {evolution_dir} does not exist (jaxvis train --config=configs/"
                          "demo_train.py --workdir=workdirs/demo makes workdirs/demo/evolution)")
    names = sorted(n for n in os.listdir(evolution_dir) if n.startswith("epoch_"))
    if not names:
        raise ConfigError(f"no epoch_NNN checkpoints in {evolution_dir}")
    return [os.path.join(evolution_dir, n) for n in names]


def filter_images(net, layer: str) -> np.ndarray:
    """A pixel-facing layer's filters as RGB images [C, k, k, 3], each min-max scaled (Fig. 6)."""
    weights = net.params.get(layer) if isinstance(net.params, dict) else None
    if not isinstance(weights, dict) or np.ndim(weights.get("kernel")) != 4:
        raise JaxvisError(f"{net.name} has no convolution kernel params[{layer!r}]['kernel'] to draw as filters")
    kernel = np.asarray(weights["kernel"])  # [k, k, 3, C] in the network's channel order
    if kernel.shape[2] != 3:
        raise JaxvisError(f"{layer} filters have {kernel.shape[2]} input channels; only RGB filters show as images")
    w = np.moveaxis(kernel, -1, 0)
    w = w[..., ::-1] if net.spec.channel_order == "BGR" else w
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    return np.round(255 * (w - lo) / np.where(span > 0, span, 1)).astype(np.uint8)


def strongest_projection(net, images: np.ndarray, layer: str, channels, batch: int = 128) -> np.ndarray:
    """For each channel: its strongest probe image, deconv-projected at the maximum,
    rendered raw and cut to the receptive field -> [len(channels), s, s, 3]."""
    top = topk.empty(net.layer(layer).channels, 1)
    for lo in range(0, len(images), batch):
        maxima = topk.channel_maxima(net, net.preprocess(images[lo:lo + batch]), (layer,))[layer]
        top = topk.merge(top, *maxima, np.arange(lo, lo + len(images[lo:lo + batch])))
    channels = np.asarray(channels)
    return np.stack(topk.projected_patches(net, images[top["image"][channels, 0]], layer, channels,
                                           top["y"][channels, 0], top["x"][channels, 0]))


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    with checks.field("evolution_dir"):
        first = checkpoints(checks.text(config, "evolution_dir"))[0]
        definition = get_model_def(checkpoint.read_meta(first)["model"])
    checks.layers(definition, config, allow_empty=False)
    checks.layer(definition, config, "filters", spatial=True)
    checks.integer(config, "units_per_layer", 1)
    checks.integer(config, "shapes_seed", 0)
    checks.integer(config, "images", 1)
    checks.integer(config, "min_size", 0)


def checkpoint_figures(path: str, config, images: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One checkpoint's column of each layer's figure ({layer: [units, s, s, 3]}) and
    its row of filters (``config.filters``). The network lives only in this call: only pictures return."""
    net = jaxvis.load_model(path)
    figures = {}
    for layer in config.layers:
        channels = list(range(min(config.units_per_layer, net.layer(layer).channels)))
        figures[layer] = strongest_projection(net, images, layer, channels)
    return figures, grid(filter_images(net, config.filters), cols=net.layer(config.filters).channels, pad=1)


def run_evolution(config, workdir: str) -> dict:
    check_config(config)
    paths = checkpoints(config.evolution_dir)
    wd.claim(workdir, config.to_dict())
    images, _ = GeneratedImages(config.shapes_seed, config.images).batch(0, config.images)
    columns: dict[str, list[np.ndarray]] = {layer: [] for layer in config.layers}
    filters = []
    for path in paths:  # one network alive at a time: each is dropped before the next loads
        column, row = checkpoint_figures(path, config, images)
        for layer in config.layers:
            columns[layer].append(column[layer])
        filters.append(row)
    epochs = [os.path.basename(p) for p in paths]
    for layer, cols in columns.items():
        units = np.stack(cols, axis=1)  # [units, checkpoints, s, s, 3]
        rows = [grid(u, cols=len(paths), pad=2) for u in units]
        save_png(stack_rows(rows, pad=4), os.path.join(workdir, f"evolution_{layer}.png"), min_size=config.min_size)
    save_png(stack_rows(filters, pad=4), os.path.join(workdir, f"filters_{config.filters}.png"), scale=8)
    summary = {"checkpoints": epochs, "layers": list(config.layers), "units_per_layer": config.units_per_layer}
    files.write_json(os.path.join(workdir, "summary.json"), summary)
    figures = "".join(f"<h2>{html.escape(l)}</h2><p><img src='evolution_{l}.png' alt='{l}'></p>" for l in config.layers)
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis evolution: {len(paths)} checkpoints",
        f"<p>Columns: {', '.join(epochs)} ({html.escape(config.evolution_dir)}). "
        f"Rows: units 0..{config.units_per_layer - 1} "
        f"of each layer, each the deconv projection of its strongest of {config.images} probe images, cut to its "
        f"receptive field.</p>{figures}<h2>{html.escape(config.filters)} filters, one row per checkpoint</h2>"
        f"<p><img src='filters_{config.filters}.png' alt='filters'></p>"))
    return summary

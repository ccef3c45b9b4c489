"""``jaxvis invariance``: translation, scale and rotation sweeps of generated
objects on the demo world (Zeiler & Fergus Fig. 5): feature distances at an
early and a late layer and the true class's probability, as curves (one
line per class, the mean over that class's images) and as ``curves.json``.
"""

from __future__ import annotations

import html
import os

import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.analysis import invariance
from jaxvis.data import shapes
from jaxvis.errors import ConfigError
from jaxvis.jobs.gallery import page
from jaxvis.render.colormaps import PALETTE
from jaxvis.render.grids import grid, save_png
from jaxvis.render.plots import line_chart


def _sweep_values(config) -> dict[str, np.ndarray]:
    return {"translation": np.arange(-config.max_shift, config.max_shift + 1, config.shift_step, dtype=float),
            "scale": np.linspace(config.min_scale, config.max_scale, config.scale_steps),
            "rotation": np.arange(0.0, 360.0 + 1e-9, config.rotation_step)}


def _class_means(a: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    return [a[labels == k].mean(axis=0) if np.any(labels == k) else np.full(a.shape[1], np.nan)
            for k in range(len(shapes.CLASSES))]


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.roles(definition, "model", "prob_layer", "class_layer")
    checks.weights(config)
    if len(checks.layers(definition, config)) != 2:
        raise ConfigError(f"config.layers: {tuple(config.layers)!r} is not two layers (the early and the late one)")
    checks.integer(config, "shapes_seed", 0)
    checks.integer(config, "images", 1)
    step = checks.number(config, "shift_step", positive=True)
    checks.number(config, "max_shift", minimum=step)
    low = checks.number(config, "min_scale", positive=True)
    checks.number(config, "max_scale", minimum=low)
    checks.integer(config, "scale_steps", 1)
    checks.number(config, "rotation_step", positive=True)


def run_invariance(config, workdir: str) -> dict:
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    early, late = config.layers
    wd.claim(workdir, config.to_dict())
    params = [shapes.make_sample(config.shapes_seed, i).params for i in range(config.images)]
    labels = np.array([p.label for p in params])
    results, charts, summary = {}, [], {}
    for name, values in _sweep_values(config).items():
        r = invariance.sweep(net, params, name, values, (early, late))
        results[name] = {"values": r["values"], "prob": r["prob"].tolist(),
                         **{f"{kind}_{layer}": r[kind][layer].tolist() for kind in ("distance", "relative")
                            for layer in (early, late)}}
        label = invariance.SWEEPS[name][1]
        for layer in (early, late):
            charts.append(line_chart(values, _class_means(r["relative"][layer], labels),
                                     f"{name}: {layer} relative distance", label, ylim=(0.0, None)))
        charts.append(line_chart(values, _class_means(r["prob"], labels), f"{name}: p(true class)", label,
                                 ylim=(0.0, 1.0)))
        rel = {layer: r["relative"][layer].mean(axis=0) for layer in (early, late)}
        summary[name] = {layer: {"values": r["values"], "mean_relative_distance": rel[layer].tolist()}
                         for layer in (early, late)}
        summary[name]["mean_prob"] = r["prob"].mean(axis=0).tolist()
    small = float(config.shift_step)
    v = np.asarray(results["translation"]["values"])
    near = np.isin(v, [-small, small])
    summary["finding"] = {
        f"{layer}_relative_distance_at_{small:g}px": float(np.mean(np.asarray(
            results["translation"][f"relative_{layer}"])[:, near])) for layer in (early, late)}
    e, l = summary["finding"].values()
    summary["finding"]["early_moves_more"] = bool(e > l)
    files.write_json(os.path.join(workdir, "curves.json"), results)
    files.write_json(os.path.join(workdir, "summary.json"), summary)
    save_png(grid(np.stack(charts), cols=3, pad=6), os.path.join(workdir, "invariance.png"))
    legend = ", ".join(f"<span style='color:rgb{tuple(int(c) for c in colour)}'>{html.escape(n)}</span>"
                       for n, colour in zip(shapes.CLASSES, PALETTE))
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis invariance: {net.name}",
        f"<p>{config.images} generated objects (seed {config.shapes_seed}); rows: vertical translation, scale, "
        f"rotation; columns: relative feature distance at {early} and {late}, p(true class). One line per class: "
        f"{legend}.</p><p><img src='invariance.png' alt='curves'></p><p>Relative distance at a "
        f"{small:g}-px shift: {early} {e:.3f}, {late} {l:.3f}. <a href='summary.json'>summary.json</a>, "
        f"<a href='curves.json'>curves.json</a></p>"))
    return summary

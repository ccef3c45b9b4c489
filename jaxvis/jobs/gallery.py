"""A static HTML gallery: index -> layer -> unit pages, relative links only,
so it works from ``file://`` and from any static web server."""

from __future__ import annotations

import html
import os

import numpy as np
from PIL import Image

from jaxvis import files
from jaxvis.jobs.paths import blob_file_name, visualize_unit_dir

_STYLE = ("<style>body{font-family:sans-serif;margin:1.5em} img{image-rendering:pixelated}"
          " .units a{display:inline-block;margin:2px;text-align:center;font-size:11px}"
          " td,th{padding:2px 8px;text-align:right}</style>")


def read_png(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}"
            f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def _unit_page(meta: dict, layer_href: str, index_href: str) -> str:
    rows = "".join(f"<tr><td>{r}</td><td>{v:.4g}</td><td>{s}</td><td>{f}</td></tr>"
                   for r, (v, s, f) in enumerate(zip(meta["best_value"], meta["best_step"], meta["failed_step"])))
    theta = ", ".join(f"{k}={html.escape(str(v))}" for k, v in sorted(meta["theta"].items()))
    where = "" if meta["y"] is None else f" at ({meta['y']}, {meta['x']})"
    return page(f"{meta['model']} {meta['layer']} unit {meta['channel']}{where}, {meta['preset']}",
                 f"<p><a href='{layer_href}'>{html.escape(meta['layer'])}</a> | <a href='{index_href}'>index</a></p>"
                 f"<p><img src='grid.png' alt='restarts'></p>"
                 f"<table><tr><th>restart</th><th>best value</th><th>at step</th><th>failed at</th></tr>{rows}</table>"
                 f"<p>seed {meta['seed']}; {theta}</p><p><a href='meta.json'>meta.json</a></p>")


def write(workdir: str, net, config, by_layer: dict) -> None:
    index = []
    for (preset, layer), metas in by_layer.items():
        layer_dir = os.path.join(workdir, "layers", preset)
        fname = blob_file_name(layer)
        unit_rel = f"../../units/{preset}/{fname}"
        cells = []
        for m in sorted(metas, key=lambda m: m["channel"]):
            name = f"{m['channel']:04d}"
            files.write_text(os.path.join(visualize_unit_dir(workdir, preset, layer, m["channel"]), "index.html"),
                             _unit_page(m, f"../../../../layers/{preset}/{fname}.html", "../../../../index.html"))
            thumb = f"{unit_rel}/{name}/restart_{m['best_restart']}.png"
            cells.append(f"<a href='{unit_rel}/{name}/index.html'><img src='{thumb}' width='64' height='64' "
                         f"alt='unit {m['channel']}'><br>{m['channel']}</a>")
        files.write_text(os.path.join(layer_dir, f"{fname}.html"), page(
            f"{net.name} {layer} ({preset}): {len(metas)} units",
            f"<p><a href='../../index.html'>index</a></p><p><img src='{fname}.png' alt='montage'></p>"
            f"<p>The strongest units, 4 restarts each at the size of their receptive field:<br>"
            f"<img src='{fname}_figure5.png' alt='Figure 5 set'></p>"
            f"<div class='units'>{''.join(cells)}</div>"))
        index.append(f"<li><a href='layers/{preset}/{fname}.html'>{html.escape(layer)}</a> ({preset}, "
                     f"{len(metas)} units)</li>")
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis: {net.name}",
        f"<p>{config.restarts} restarts per unit, seed {config.seed}, presets "
        f"{html.escape(', '.join(config.presets))}.</p>"
        f"<ul>{''.join(index)}</ul>"
        + "".join(f"<h2>Figure 5: every layer, {html.escape(p)}</h2><p><img src='figure5_{p}.png' alt='Figure 5'></p>"
                  for p in dict.fromkeys(k[0] for k in by_layer))))

"""A static HTML gallery: index -> layer -> unit pages, relative links only,
so it works from ``file://`` and from any static web server.

Pages (paths relative to the workdir; ``<layer>`` is ``blob_file_name``):

- ``index.html``: the presets' mean scores per layer (a table: which preset,
  which image family, does best), the layer pages, the Figure 5 images;
- ``layers/<preset>/<layer>.html``: the layer's montage and Figure 5 set,
  and every unit as a labelled cell (its channel, and its class name in the
  class layer) linking to the unit's page; the cells sort by channel, best
  value or any score (``data-*`` attributes and a few lines of inline
  JavaScript);
- ``unit_pages/<layer>/<channel>.html``: one page per unit, as OpenAI
  Microscope shows a unit: the restart grid of every preset with its image
  family, the unit's top-9 dataset patches and their deconvolutions, its
  scores per preset, its class name for class units;
- ``units/<preset>/<layer>/<channel>/index.html``: one preset's run of the
  unit in detail (every restart's best value and step, theta).
"""

from __future__ import annotations

import html
import os

import numpy as np
from PIL import Image

from jaxvis import files
from jaxvis.jobs import unit_scores
from jaxvis.jobs.paths import blob_file_name, visualize_unit_dir
from jaxvis.search.scores import mean_or_none

UNIT_PAGES = "unit_pages"

_STYLE = ("<style>body{font-family:sans-serif;margin:1.5em} img{image-rendering:pixelated}"
          " .units a{display:inline-block;margin:2px;text-align:center;font-size:11px;vertical-align:top}"
          " td,th{padding:2px 8px;text-align:right} .preset{display:inline-block;margin:0 1.5em 1em 0}</style>")

# Sorts the children of element ``id`` by their data-<key> (descending; ``asc`` ascending); empty values last.
SORT_SCRIPT = ("<script>function sortBy(id,key,asc){const c=document.getElementById(id);"
         "const v=e=>{const f=parseFloat(e.dataset[key]);return isNaN(f)?-1e300:(asc?-f:f);};"
         "[...c.children].sort((a,b)=>v(b)-v(a)).forEach(e=>c.appendChild(e));}</script>")


def read_png(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}"
            f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def class_name(net, layer: str, channel: int) -> str | None:
    """The class a unit of the network's class layer stands for
    (``net.spec.class_names``), or None (another layer, or no names)."""
    names = net.spec.class_names
    if layer != net.class_layer or not names or not 0 <= channel < len(names):
        return None
    return str(names[channel])


def unit_title(net, layer: str, channel: int) -> str:
    """``layer unit c`` with the class name of a class unit: ``fc8 unit 3 (triangle)``."""
    name = class_name(net, layer, channel)
    return f"{layer} unit {channel}" + (f" ({name})" if name else "")


def unit_page_path(layer: str, channel: int) -> str:
    """The unit's page, relative to the workdir."""
    return f"{UNIT_PAGES}/{blob_file_name(layer)}/{channel:04d}.html"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _family(meta: dict) -> str:
    return str(meta["theta"].get("family", "pixel"))


def _scores_table(rows: list[tuple[str, dict]]) -> str:
    """rows: (first cell's HTML, the unit's scores or None) -> a table of every score."""
    heads = "".join(f"<th>{html.escape(unit_scores.LABELS[k])}</th>" for k in unit_scores.NAMES)
    body = "".join(f"<tr><td>{first}</td>" + "".join(f"<td>{_fmt(v)}</td>" for v in unit_scores.flat(s).values())
                   + "</tr>" for first, s in rows)
    return f"<table><tr><th></th>{heads}</tr>{body}</table>"


_SCORES_NOTE = (
    "<p>activation: the best restart's value / the unit's strongest over the scoring images; transferability "
    "and mean p (class units): the fraction of the restarts the judge classifies as the class, and its mean "
    "probability of it; plausibility (class units): the mean cosine similarity of the restarts' and the class's "
    "scoring images' judge features; MIS: how often the references' mean cosine similarity in the judge's "
    "features picks the stronger of a strong and a weak dataset patch (0.5 is chance), with the visualizations "
    "or with the top-9 patches as references; diversity: 1 - mean cosine similarity of the restarts' judge "
    "features, and their mean pairwise RMS pixel difference (conv units: cropped to the receptive field). "
    "- : not computed. jaxvis/jobs/unit_scores.py says how.</p>")


def _scoring_line(meta: dict) -> str:
    s = meta.get("scoring")
    if not s:
        return "<p>No scores (config.score_images is 0).</p>"
    return (f"<p>Scoring images: {html.escape(s['images'])}. Judge: {html.escape(s['judge'] or 'none')}"
            f" (scores that need one are not computed without it).</p>")


def _preset_unit_page(net, meta: dict, layer_href: str, index_href: str, unit_href: str) -> str:
    rows = "".join(f"<tr><td>{r}</td><td>{v:.4g}</td><td>{s}</td><td>{f}</td></tr>"
                   for r, (v, s, f) in enumerate(zip(meta["best_value"], meta["best_step"], meta["failed_step"])))
    theta = ", ".join(f"{k}={html.escape(str(v))}" for k, v in sorted(meta["theta"].items()))
    where = "" if meta["y"] is None else f" at ({meta['y']}, {meta['x']})"
    scores = ""
    if "scores" in meta:
        scores = f"<h2>Scores</h2>{_scores_table([(html.escape(meta['preset']), meta['scores'])])}"
    return page(f"{meta['model']} {unit_title(net, meta['layer'], meta['channel'])}{where}, {meta['preset']}",
                f"<p><a href='{unit_href}'>the unit's page (every preset)</a> | "
                f"<a href='{layer_href}'>{html.escape(meta['layer'])}</a> | <a href='{index_href}'>index</a></p>"
                f"<p><img src='grid.png' alt='restarts'></p>"
                f"<table><tr><th>restart</th><th>best value</th><th>at step</th><th>failed at</th></tr>{rows}</table>"
                f"{scores}<p>seed {meta['seed']}; {theta}</p><p><a href='meta.json'>meta.json</a></p>")


def _unit_page(net, layer: str, channel: int, metas: dict[str, dict]) -> str:
    """The unit's page (at unit_pages/<layer>/<channel>.html) from its metas of every preset."""
    fname = blob_file_name(layer)
    up = "../.."

    def unit_dir(preset):
        return f"{up}/units/{preset}/{fname}/{channel:04d}"

    first = next(iter(metas.values()))
    where = "" if first["y"] is None else f" at ({first['y']}, {first['x']})"
    nav = " | ".join([f"<a href='{up}/index.html'>index</a>"]
                     + [f"<a href='{up}/layers/{p}/{fname}.html'>{html.escape(layer)} ({html.escape(p)})</a>"
                        for p in metas])
    name = class_name(net, layer, channel)
    body = [f"<p>{nav}</p>"]
    if name:
        body.append(f"<p>Class unit: <b>{html.escape(name)}</b> (class {channel} of {net.name}).</p>")
    body.append("<h2>Optimized images</h2><div>")
    for p, m in metas.items():
        best = max(m["best_value"])
        body.append(f"<div class='preset'><h3>{html.escape(p)} ({html.escape(_family(m))})</h3>"
                    f"<a href='{unit_dir(p)}/index.html'><img src='{unit_dir(p)}/grid.png' "
                    f"alt='{html.escape(p)} restarts'></a><br>{len(m['best_value'])} restarts, best value "
                    f"{best:.4g}</div>")
    body.append("</div>")
    with_top = next((p for p, m in metas.items() if m.get("top9")), None)
    if with_top:
        m = metas[with_top]
        names = "; ".join(f"{e['value']:.3g}" + (f" {html.escape(e['class'])}" if e.get("class") else "")
                          for e in m["top9"])
        body.append(f"<h2>Top-9 dataset patches and their deconvolutions</h2>"
                    f"<p><img src='{unit_dir(with_top)}/patches.png' alt='top-9 patches'> "
                    f"<img src='{unit_dir(with_top)}/deconvs.png' alt='top-9 deconvolutions'></p>"
                    f"<p>Values (strongest first): {names}</p>")
    body.append("<h2>Scores</h2>")
    if any("scores" in m for m in metas.values()):
        body.append(_scores_table([(f"{html.escape(p)} ({html.escape(_family(m))})", m.get("scores"))
                                   for p, m in metas.items()]))
        body.append(_SCORES_NOTE)
    body.append(_scoring_line(first))
    body.append("<p>meta.json: " + ", ".join(f"<a href='{unit_dir(p)}/meta.json'>{html.escape(p)}</a>"
                                             for p in metas) + "</p>")
    return page(f"{net.name} {unit_title(net, layer, channel)}{where}", "".join(body))


def _cell(net, meta: dict, thumb: str, href: str) -> str:
    """A layer page's unit cell: thumbnail, channel and class name, data-* sort keys."""
    vals = {"channel": meta["channel"], "best": max(meta["best_value"]), **unit_scores.flat(meta.get("scores"))}
    data = " ".join(f"data-{k}='{'' if v is None else f'{v:.6g}'}'" for k, v in vals.items())
    name = class_name(net, meta["layer"], meta["channel"])
    label = f"{meta['channel']}" + (f" {html.escape(name)}" if name else "")
    title = html.escape(unit_title(net, meta["layer"], meta["channel"]))
    return (f"<a {data} href='{href}' title='{title}'><img src='{thumb}' width='64' height='64' "
            f"alt='{title}'><br>{label}</a>")


def sort_buttons(container: str, keys, ascending=()) -> str:
    """A line of buttons that sort ``container``'s children (SORT_SCRIPT) by each
    (data key, label) of ``keys``; the keys in ``ascending`` sort lowest first."""
    return "<p>sort by: " + " ".join(
        f"<button onclick=\"sortBy('{container}','{k}'{',true' if k in ascending else ''})\">{html.escape(label)}"
        "</button>" for k, label in keys) + "</p>"


def _buttons(container: str, scored: bool) -> str:
    keys = [("channel", "channel"), ("best", "best value")]
    if scored:
        keys += [(k, unit_scores.LABELS[k]) for k in unit_scores.NAMES]
    return sort_buttons(container, keys, ascending=("channel",))


def _summary(by_layer: dict) -> str:
    """The front page's table: per layer and preset, the mean of each score over its units."""
    scored = any("scores" in m for ms in by_layer.values() for m in ms)
    names = unit_scores.NAMES if scored else ()
    heads = "".join(f"<th>{h}</th>" for h in ("layer", "preset", "family", "units", "mean best value",
                                              *(html.escape(unit_scores.LABELS[k]) for k in names)))
    rows = []
    layers = list(dict.fromkeys(l for _, l in by_layer))
    for layer in layers:
        for (p, l), metas in by_layer.items():
            if l != layer:
                continue
            flats = [unit_scores.flat(m.get("scores")) for m in metas]
            means = "".join(f"<td>{_fmt(mean_or_none([f[k] for f in flats]))}</td>" for k in names)
            family = ", ".join(dict.fromkeys(_family(m) for m in metas))
            rows.append(f"<tr><td><a href='layers/{p}/{blob_file_name(l)}.html'>{html.escape(l)}</a></td>"
                        f"<td>{html.escape(p)}</td><td>{html.escape(family)}</td><td>{len(metas)}</td>"
                        f"<td>{float(np.mean([max(m['best_value']) for m in metas])):.4g}</td>{means}</tr>")
    note = _SCORES_NOTE if scored else "<p>No scores (config.score_images is 0).</p>"
    return (f"<h2>Presets per layer: mean over the layer's units</h2><table><tr>{heads}</tr>"
            f"{''.join(rows)}</table>{note}")


def write(workdir: str, net, config, by_layer: dict) -> None:
    """Every page, from the units' metas: ``by_layer`` {(preset, layer): [meta]}
    in plan order (presets, then layers)."""
    index = []
    units: dict[tuple[str, int], dict[str, dict]] = {}
    for (preset, layer), metas in by_layer.items():
        for m in metas:
            units.setdefault((layer, m["channel"]), {})[preset] = m
    for layer in dict.fromkeys(l for _, l in by_layer):
        files.remove_temporaries(os.path.join(workdir, UNIT_PAGES, blob_file_name(layer)))
    for (layer, channel), metas in units.items():
        files.write_text(os.path.join(workdir, unit_page_path(layer, channel)), _unit_page(net, layer, channel, metas))
    for (preset, layer), metas in by_layer.items():
        layer_dir = os.path.join(workdir, "layers", preset)
        fname = blob_file_name(layer)
        unit_rel = f"../../units/{preset}/{fname}"
        cells = []
        for m in sorted(metas, key=lambda m: m["channel"]):
            name = f"{m['channel']:04d}"
            files.write_text(os.path.join(visualize_unit_dir(workdir, preset, layer, m["channel"]), "index.html"),
                             _preset_unit_page(net, m, f"../../../../layers/{preset}/{fname}.html",
                                               "../../../../index.html",
                                               f"../../../../{unit_page_path(layer, m['channel'])}"))
            thumb = f"{unit_rel}/{name}/restart_{m['best_restart']}.png"
            cells.append(_cell(net, m, thumb, f"../../{unit_page_path(layer, m['channel'])}"))
        scored = any("scores" in m for m in metas)
        files.write_text(os.path.join(layer_dir, f"{fname}.html"), page(
            f"{net.name} {layer} ({preset}): {len(metas)} units",
            f"{SORT_SCRIPT}<p><a href='../../index.html'>index</a></p><p><img src='{fname}.png' alt='montage'></p>"
            f"<p>The strongest units, 4 restarts each at the size of their receptive field:<br>"
            f"<img src='{fname}_figure5.png' alt='Figure 5 set'></p>"
            f"<p>Every unit (its best restart; click for its page):</p>{_buttons('cells', scored)}"
            f"<div class='units' id='cells'>{''.join(cells)}</div>"))
        index.append(f"<li><a href='layers/{preset}/{fname}.html'>{html.escape(layer)}</a> ({preset}, "
                     f"{len(metas)} units)</li>")
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis: {net.name}",
        f"<p>{config.restarts} restarts per unit, seed {config.seed}, presets "
        f"{html.escape(', '.join(config.presets))}.</p>"
        f"{_summary(by_layer)}<h2>Layers</h2><ul>{''.join(index)}</ul>"
        + "".join(f"<h2>Figure 5: every layer, {html.escape(p)}</h2><p><img src='figure5_{p}.png' alt='Figure 5'></p>"
                  for p in dict.fromkeys(k[0] for k in by_layer))))

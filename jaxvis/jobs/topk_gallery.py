"""The top-k gallery: index -> layer (every unit's patches) -> unit (its
top images' receptive-field patches beside their deconvolutions)."""

from __future__ import annotations

import html
import os

from jaxvis import files
from jaxvis.jobs.gallery import page
from jaxvis.jobs.paths import blob_file_name, topk_unit_dir, visualize_unit_dir


def _optimized(workdir: str, config, meta: dict) -> str:
    """The unit's optimized images from a ``jaxvis visualize`` workdir, when one is named and has them."""
    if not config.optimized:
        return ""
    if meta.get("token") is not None:  # a prefix token's units were not optimized as such
        return ""
    unit = visualize_unit_dir(config.optimized, config.optimized_preset, meta.get("blob", meta["layer"]),
                              meta["channel"])
    if not os.path.isfile(os.path.join(unit, "grid.png")):
        return ""
    page_dir = topk_unit_dir(workdir, meta["layer"], meta["channel"])
    rel = os.path.relpath(os.path.join(unit, "grid.png"), page_dir).replace(os.sep, "/")
    return f"<p>Optimized images ({html.escape(config.optimized_preset)}):<br><img src='{rel}' alt='optimized'></p>"


def _legend(meta: dict) -> str:
    """What the unit page's two pictures are."""
    if "blob" not in meta:
        return (f"Left: the receptive field of the unit's maximum in each image (grey where it leaves the image); "
                f"right: its {meta['mode']} projection.")
    where = ("the maximum over the patch tokens" if meta.get("token") is None
             else f"token {meta['token']} (a prefix token)")
    return (f"A token blob: after attention every token sees the whole image, so each picture is the whole image, "
            f"not a crop. Left: the image with this channel's value on every patch token over it (a heat map from 0 "
            f"to its maximum); the unit is ranked by {where}. Right: the {meta['mode']} projection of that unit.")


def _unit_page(meta: dict, optimized: str = "") -> str:
    rows = "".join(f"<tr><td>{k + 1}</td><td>{html.escape(e['name'])}</td><td>{e.get('class', '')}</td>"
                   f"<td>{e['value']:.4g}</td><td>({e['y']}, {e['x']})</td></tr>"
                   for k, e in enumerate(meta["entries"]))
    pictures = ("<p><img src='patches.png' alt='patches'> <img src='deconvs.png' alt='deconvolutions'></p>"
                if meta["entries"] else "<p>No image reached this unit.</p>")
    return page(f"{meta['layer']} unit {meta['channel']}: top {len(meta['entries'])} images",
                f"<p><a href='../../../layers/{meta['layer']}.html'>{meta['layer']}</a> | "
                f"<a href='../../../index.html'>index</a></p>{pictures}{optimized}"
                f"<p>{_legend(meta)}</p>"
                f"<table><tr><th>#</th><th>image</th><th>class</th><th>max</th><th>at (y, x)</th></tr>{rows}</table>"
                f"<p><a href='meta.json'>meta.json</a></p>")


def write(workdir: str, net, config, by_layer: dict, summary: dict) -> None:
    index = []
    for layer, metas in by_layer.items():
        cells = []
        fname = blob_file_name(layer)
        for m in metas:
            d = topk_unit_dir(workdir, layer, m["channel"])
            files.remove_temporaries(d)
            files.write_text(os.path.join(d, "index.html"), _unit_page(m, _optimized(workdir, config, m)))
            thumb = (f"<img src='../units/{fname}/{m['channel']:04d}/patches.png' width='96' height='96' "
                     f"alt='unit {m['channel']}'>" if m["entries"] else "(none)")
            cells.append(f"<a href='../units/{fname}/{m['channel']:04d}/index.html'>{thumb}<br>{m['channel']}</a>")
        files.remove_temporaries(os.path.join(workdir, "layers"))
        files.write_text(os.path.join(workdir, "layers", f"{fname}.html"), page(
            f"{net.name} {layer}: top {config.k} patches of {len(metas)} units",
            f"<p><a href='../index.html'>index</a></p><div class='units'>{''.join(cells)}</div>"))
        stats = summary.get("classes", {}).get(layer)
        share = (f"; top images all of one class for {100 * stats['all_one_class']:.0f}% of units"
                 if stats else "")
        index.append(f"<li><a href='layers/{fname}.html'>{html.escape(layer)}</a> ({len(metas)} units{share})</li>")
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis top {config.k}: {net.name}",
        f"<p>{summary['images']} images ({summary['skipped']} skipped), {config.mode} projections. "
        f"<a href='summary.json'>summary.json</a></p><ul>{''.join(index)}</ul>"))

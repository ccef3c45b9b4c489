"""The search's review gallery: a sortable table of every combination, one
page per combination (its images for every probe) and one page per probe
(every combination side by side). Static HTML, relative links, a few lines
of inline JavaScript for sorting (the default order is the run order)."""

from __future__ import annotations

import html
import os

from jaxvis import files
from jaxvis.jobs.gallery import SORT_SCRIPT, class_name, page, sort_buttons
from jaxvis.search import sampling, scores

def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _data(row: dict, order: int) -> str:
    """data-* attributes to sort on (missing scores sort last)."""
    vals = {k: row.get(k) for k in scores.NAMES}
    attrs = " ".join(f"data-{k}='{-1e9 if v is None else v:.6g}'" for k, v in vals.items())
    return f"{attrs} data-order='{-order}' data-rank='{-row.get('rank', 0):.6g}'"


def _buttons(container: str) -> str:
    return sort_buttons(container, [("order", "run order"), ("rank", "combined rank"), *((k, k) for k in scores.NAMES)])


COLUMNS = ("family", *sampling.FIELDS, *sampling.NEW_FIELDS)


def _setting(settings: dict, name: str) -> str:
    """A setting as shown: the paper's five only for the pixel family, Adam's
    lr, transforms and diversity only for the others."""
    family = settings.get("family", "pixel")
    if name == "family":
        return html.escape(str(family))
    if (family == "pixel") != (name in sampling.FIELDS):
        return "-"
    v = settings[name]
    return str(v) if isinstance(v, bool) else f"{v:.3g}"


def _theta(settings: dict) -> str:
    return ", ".join(f"{k}={_setting(settings, k)}" for k in COLUMNS if _setting(settings, k) != "-")


def _families_table(table: list[dict]) -> str:
    rows = scores.family_ranking(table)
    if len({r["family"] for r in rows}) < 2:
        return ""
    heads = "".join(f"<th>{h}</th>" for h in ("family", "combinations",
                                               *(f"{w} {n}" for n in scores.NAMES for w in ("best", "mean"))))
    body = "".join("<tr>" + f"<td>{html.escape(r['family'])}</td><td>{r['combinations']}</td>"
                   + "".join(f"<td>{_fmt(r[f'{w}_{n}'])}</td>" for n in scores.NAMES for w in ("best", "mean"))
                   + "</tr>" for r in rows)
    return (f"<h2>Image families, ranked</h2><p>By the mean recognisability of their sampled combinations "
            f"(then mean activation); a family's best is biased upward by its number of draws: "
            f"<a href='families.json'>families.json</a>.</p>"
            f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>")


def _holdout_table(table: list[dict], holdout: dict) -> str:
    """The exported combinations' scores in the search beside their held-out ones."""
    if not holdout:
        return ""
    body = []
    for r in table:
        h = holdout.get(r["id"])
        if h:
            body.append(f"<tr><td><a href='combos/{r['id']}/index.html#holdout'>{r['id']}</a></td>"
                        f"<td>{_setting(r['settings'], 'family')}</td><td>{_fmt(r.get('recognisability'))}</td>"
                        f"<td>{_fmt(h['recognisability'])}</td></tr>")
    first = next(iter(holdout.values()))
    return (f"<h2>Exported presets, held out</h2><p>Each exported combination re-run on all "
            f"{len(first['units'])} class units with {first['restarts']} restarts the search never drew (seed "
            f"{first['seed']}): the judge's mean probability of the class. The search's own score is the best "
            f"of many noisy draws; trust this one. <a href='holdout.json'>holdout.json</a>.</p>"
            f"<table><thead><tr><th>id</th><th>family</th><th>recognisability in the search</th>"
            f"<th>held out</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def write(workdir: str, net, config, probes: list[str], table: list[dict], picked: set[str],
          holdout: dict | None = None) -> None:
    holdout = holdout or {}
    rows = []
    for order, r in enumerate(table):
        mark = " (exported)" if r["id"] in picked else ""
        cells = "".join(f"<td>{_setting(r['settings'], k)}</td>" for k in COLUMNS)
        cells += "".join(f"<td>{_fmt(r.get(k))}</td>" for k in scores.NAMES)
        rows.append(f"<tr {_data(r, order)}><td><a href='combos/{r['id']}/index.html'>{r['id']}</a>{mark}</td>"
                    f"<td>{r['kind']}</td>{cells}<td>{r['rank']:.1f}</td></tr>")
        _combo_page(workdir, net, r, probes, config.restarts, holdout.get(r["id"]))
    heads = "".join(f"<th>{h}</th>" for h in ("id", "kind", *COLUMNS, *scores.NAMES, "mean rank"))
    probe_links = " ".join(f"<a href='probes/{p}/index.html'>{p}</a>" for p in probes)
    for p in probes:
        _probe_page(workdir, net, p, table)
    files.write_text(os.path.join(workdir, "index.html"), page(
        f"jaxvis search: {net.name}, {len(table)} combinations",
        f"{SORT_SCRIPT}<p>{config.steps} steps, {config.restarts} restarts, seed {config.seed}, judge "
        f"{html.escape(config.judge or 'none')}. Scores: see jaxvis/search/scores.py; the sampling "
        f"distributions: jaxvis/search/sampling.py. <a href='scores.json'>scores.json</a>, "
        f"exported presets: <a href='presets.py'>presets.py</a>.</p><p>Probes: {probe_links}</p>"
        f"{_holdout_table(table, holdout)}{_families_table(table)}"
        f"{_buttons('rows')}<table><thead><tr>{heads}</tr></thead><tbody id='rows'>{''.join(rows)}</tbody></table>"))


def _combo_page(workdir: str, net, row: dict, probes: list[str], restarts: int, holdout: dict | None) -> None:
    body = []
    for p, s in zip(probes, row["probes"]):
        imgs = "".join(f"<img src='{p}-r{r}.png' width='96' height='96' alt='restart {r}'> " for r in range(restarts))
        body.append(f"<h3><a href='../../probes/{p}/index.html'>{p}</a></h3><p>{imgs}</p><p>activation "
                    f"{_fmt(s['activation'])}, recognisability {_fmt(s['recognisability'])}, diversity "
                    f"{_fmt(s['diversity'])}</p>")
    if holdout:
        body.append(f"<h2 id='holdout'>Held out: recognisability {_fmt(holdout['recognisability'])}</h2><p>Every "
                    f"class unit, {holdout['restarts']} restarts the search never drew (seed {holdout['seed']}); "
                    f"under each unit the judge's mean probability of its class.</p>")
        for unit, p in zip(holdout["units"], holdout["per_unit"]):
            imgs = "".join(f"<img src='holdout/{unit}-r{r}.png' width='64' height='64' alt='{unit} restart {r}'> "
                           for r in range(holdout["restarts"]))
            layer, channel = unit.rsplit("-", 1)
            name = class_name(net, layer, int(channel))
            label = html.escape(unit + (f" ({name})" if name else ""))
            body.append(f"<p>{label}: {imgs} {_fmt(p)}</p>")
    scores_line = ", ".join(f"{k} {_fmt(row.get(k))}" for k in scores.NAMES)
    files.remove_temporaries(os.path.join(workdir, "combos", row["id"]))
    files.write_text(os.path.join(workdir, "combos", row["id"], "index.html"), page(
        f"{net.name}: combination {row['id']} ({row['kind']})",
        f"<p><a href='../../index.html'>all combinations</a> | <a href='meta.json'>meta.json</a></p>"
        f"<p>{html.escape(_theta(row['settings']))}; {scores_line}</p>{''.join(body)}"))


def _probe_page(workdir: str, net, probe: str, table: list[dict]) -> None:
    cells = []
    for order, r in enumerate(table):
        s = next(s for s in r["probes"] if s["probe"] == probe)
        img = f"../../combos/{r['id']}/{probe}-r{s['best_restart']}.png"
        cells.append(f"<a {_data({**s, 'rank': r['rank']}, order)} href='../../combos/{r['id']}/index.html'>"
                     f"<img src='{img}' width='64' height='64' alt='{r['id']}'><br>{r['id']}<br>"
                     f"{_fmt(s['activation'])} / {_fmt(s['recognisability'])} / {_fmt(s['diversity'])}</a>")
    files.remove_temporaries(os.path.join(workdir, "probes", probe))
    files.write_text(os.path.join(workdir, "probes", probe, "index.html"), page(
        f"{net.name} probe {probe}: every combination",
        f"{SORT_SCRIPT}<p><a href='../../index.html'>all combinations</a>. Under each image: activation / "
        f"recognisability / diversity for this probe (best restart shown).</p>{_buttons('cells')}"
        f"<div class='units' id='cells'>{''.join(cells)}</div>"))

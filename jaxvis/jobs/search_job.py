"""``jaxvis search``: the 300-combination random search of the regularization
hyperparameters (Yosinski et al. 2015, section 3), every combination run
vmapped over a set of probe units and restarts, with Table 1's four rows as
references, automated scores (``jaxvis.search.scores``), a review gallery
and the chosen combinations exported as a preset file.

Layout of the workdir::

    config.json                     the config that made it (another is refused)
    combinations.json               every combination's settings, in run order
    chunks/combos-<first>.json      one record per chunk of combinations
    combos/<id>/<probe>-r<r>.png    each probe's restart images
    combos/<id>/meta.json, index.html
    probes/<probe>/index.html       every combination side by side, sortable
    scores.json                     the score table
    families.json                   the image families ranked by their combinations' scores
    combos/<id>/holdout/<unit>-r<r>.png, holdout.json
                                    the exported combinations' held-out check (search_holdout.py)
    presets.py                      the chosen combinations, as presets, with both scores
    index.html                      the sortable table of all combinations
"""

from __future__ import annotations

import os

import numpy as np

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import files
from jaxvis import workdir as wd
from jaxvis.errors import ConfigError
from jaxvis.jobs import chunked, hosts, search_batch, search_gallery, search_holdout, unit_scores
from jaxvis.optimize.families import FAMILIES, color_statistics
from jaxvis.optimize.presets import preset as load_preset
from jaxvis.optimize.units import parse_unit
from jaxvis.optimize.visualization import restart_keys
from jaxvis.render.grids import save_png
from jaxvis.search import sampling, scores

REFERENCES = ("row1", "row2", "row3", "row4")


def probe_parts(text: str) -> tuple:
    """'layer:channel' or 'layer:channel:y:x' -> (layer, channel[, y, x]), the form only."""
    parts = str(text).split(":")
    if len(parts) not in (2, 4) or not all(p.strip().lstrip("-").isdigit() for p in parts[1:]):
        raise ConfigError(f"a probe is 'layer:channel' or 'layer:channel:y:x', got {text!r}")
    return (parts[0], *map(int, parts[1:]))


def parse_probe(net, text: str) -> tuple[str, int, int, int]:
    """'layer:channel' or 'layer:channel:y:x' -> a unit (conv units default to the centre)."""
    return parse_unit(net, probe_parts(text))


def probe_name(unit) -> str:
    layer, channel, y, x = unit
    return f"{layer}-{channel:04d}-{y}-{x}"


def combinations(config) -> list[dict]:
    """[{id, kind, settings}]: Table 1's rows (kind "reference"), then the
    sampled combinations c000, c001, ... (kind "sampled"). All run with the
    config's steps; the sampled ones with row 3's learning rate. Settings are
    presets, in CaffeNet's learning-rate units like Table 1 (the run
    multiplies lr by the model's ``ascent_lr_scale``, as jaxvis.visualize does)."""
    out = []
    for row in REFERENCES if config.references else ():
        out.append({"id": row, "kind": "reference", "settings": dict(load_preset(row).to_dict(), steps=config.steps)})
    bases = {f: dict(load_preset("row3" if f == "pixel" else f).to_dict(), steps=config.steps)
             for f in FAMILIES}
    for i, theta in enumerate(sampling.sample(config.combinations, config.seed, families(config))):
        out.append({"id": f"c{i:03d}", "kind": "sampled", "settings": dict(bases[theta.get("family", "pixel")],
                                                                           **theta)})
    return out


def families(config) -> tuple[str, ...]:
    """The image families the search samples from (config.families; pixel when absent)."""
    return tuple(config.get("families", ("pixel",)))


def plan_chunks(combos: list[dict], per_chunk: int) -> list[dict]:
    ids = [c["id"] for c in combos]
    return [{"id": f"combos-{first:04d}", "combos": ids[first:first + per_chunk]}
            for first in range(0, len(ids), per_chunk)]


def _run_chunk(net, judge, config, probes, chunk, by_id, workdir, statistics) -> list[dict]:
    combos = [by_id[i] for i in chunk["combos"]]
    r_count = config.restarts
    keys_r = restart_keys(config.seed, r_count)
    results = {}  # (combo index, probe index) -> (images [R], best_value, best_step, failed)
    for layer in dict.fromkeys(p[0] for p in probes):
        pidx = [i for i, p in enumerate(probes) if p[0] == layer]
        elems, images, out = search_batch.run(net, layer, combos, [probes[p] for p in pidx], keys_r, config.steps,
                                              statistics)
        for j, (c, u, r) in enumerate(elems):
            results.setdefault((c, pidx[u]), []).append(
                (images[j], out.best_value[j], out.best_step[j], out.failed_step[j]))
    metas = []
    for c, combo in enumerate(combos):
        d = os.path.join(workdir, "combos", combo["id"])
        files.remove_temporaries(d)
        rows = []
        for p, unit in enumerate(probes):
            images = np.stack([e[0] for e in results[(c, p)]])
            name = probe_name(unit)
            for r in range(r_count):
                save_png(images[r], os.path.join(d, f"{name}-r{r}.png"))
            judged = None
            if unit_scores.is_class_unit(net, unit[0], judge):
                judged = [float(v) for v in search_batch.class_probability(judge, images, unit[1])]
            values = [float(e[1]) for e in results[(c, p)]]
            rows.append({"probe": name, "best_value": values, "best_step": [int(e[2]) for e in results[(c, p)]],
                         "failed_step": [int(e[3]) for e in results[(c, p)]], "judge_p": judged,
                         "best_restart": int(np.argmax(values)), "diversity": scores.diversity(images)})
        meta = {"id": combo["id"], "kind": combo["kind"], "settings": combo["settings"], "probes": rows}
        files.write_json(os.path.join(d, "meta.json"), meta)
        metas.append(meta)
    return metas


def score_table(metas: list[dict]) -> list[dict]:
    """One row per combination: id, kind, settings, the three scores and per-probe detail."""
    best = np.array([[max(r["best_value"]) for r in m["probes"]] for m in metas])
    relative = scores.relative_activation(best)
    table = []
    for i, m in enumerate(metas):
        judged = [float(np.mean(r["judge_p"])) if r["judge_p"] else None for r in m["probes"]]
        per_probe = [{"probe": r["probe"], "activation": float(relative[i, j]), "recognisability": judged[j],
                      "diversity": r["diversity"], "best_restart": r["best_restart"]}
                     for j, r in enumerate(m["probes"])]
        table.append({"id": m["id"], "kind": m["kind"], "settings": m["settings"],
                      "activation": float(np.mean(relative[i])), "recognisability": scores.mean_or_none(judged),
                      "diversity": scores.mean_or_none(r["diversity"] for r in m["probes"]),
                      "probes": per_probe})
    for row, rank in zip(table, scores.combined_rank(table)):
        row["rank"] = rank
    return table


EXPORT_BY = ("recognisability", "activation", "diversity", "rank")


def chosen(table: list[dict], config) -> list[dict]:
    """The exported combinations: config.export's ids, or the best ``export_top``
    sampled ones with distinct settings by ``config.export_by``: a score
    (highest first) or "rank" (the mean rank over the scores, lowest first).
    Recognisability by the independent network is the default: activation
    alone favours no regularization, and diversity rewards noise."""
    by_id = {r["id"]: r for r in table}
    if config.export:
        unknown = [i for i in config.export if i not in by_id]
        if unknown:
            raise ConfigError(f"export names unknown combinations {unknown}; ids are row1..row4 and "
                              f"c000..c{config.combinations - 1:03d}")
        return [by_id[i] for i in config.export]
    if config.export_by not in EXPORT_BY:
        raise ConfigError(f"export_by must be one of {', '.join(EXPORT_BY)}, got {config.export_by!r}")
    if config.export_by == "rank":
        def key(r):
            return r["rank"]
    else:
        def key(r):
            v = r.get(config.export_by)
            return -v if v is not None else np.inf
    picked, seen = [], set()
    for r in sorted((r for r in table if r["kind"] == "sampled"), key=key):
        settings = tuple(sorted(r["settings"].items()))
        if settings not in seen:
            seen.add(settings)
            picked.append(r)
    return picked[:config.export_top]


def _score_line(row: dict, holdout: dict) -> str:
    """One preset's scores for the preset file: in the search, and held out."""
    v = row.get("recognisability")
    line = (f"{row['id']} ({row['settings'].get('family', 'pixel')}): recognisability "
            f"{'-' if v is None else f'{v:.3f}'} on the search's probes")
    h = holdout.get(row["id"])
    if h:
        line += (f", {h['recognisability']:.3f} held out ({len(h['units'])} class units x {h['restarts']} new "
                 f"restarts, seed {h['seed']})")
    return line


def write_presets(path: str, rows: list[dict], workdir: str, holdout: dict | None = None) -> None:
    """A preset file: ``FILE.py:ID`` works wherever a preset name does. Its
    docstring gives each preset's scores (search_holdout.py)."""
    body = ",\n".join(f"    {r['id']!r}: {r['settings']!r}" for r in rows)
    first = rows[0]["id"] if rows else ""
    lines = "\n".join(f"- {_score_line(r, holdout or {})}" for r in rows)
    files.write_text(path, f'''"""Regularization presets chosen by jaxvis search in {workdir}.

    jaxvis visualize --config=configs/demo.py --workdir=workdirs/vis_chosen \\\\
        --config.presets="('{path}:{first}',)"

or ``jaxvis.visualize(net, units, preset="{path}:{first}")``.

Scores (the held-out one is the one to trust: the search's is the best of
many noisy draws):
{lines}
"""

import ml_collections

PRESETS = {{
{body},
}}


def get_config(name={first!r}):
    return ml_collections.ConfigDict(PRESETS[name])
''')


def check_config(config) -> None:
    """The fields a user sets, before anything loads or runs (JaxvisErrors naming the field)."""
    definition = checks.model(config)
    checks.weights(config)
    if checks.text(config, "judge"):
        checks.model(config, "judge")
    if not checks.get(config, "probes"):
        raise ConfigError("config.probes is empty: name at least one probe unit, e.g. ('fc8:0',)")
    with checks.field("probes"):
        for p in checks.names(config, "probes"):
            checks.check_layer(definition, "probes", probe_parts(p)[0])
    combos = checks.integer(config, "combinations", 0)
    chosen_families = families(config)
    unknown = [f for f in chosen_families if f not in FAMILIES]
    if not chosen_families or unknown:
        raise ConfigError(f"config.families must name one or more of {', '.join(FAMILIES)}; "
                          f"got {chosen_families!r}")
    references = checks.boolean(config, "references")
    checks.integer(config, "restarts", 1)
    checks.integer(config, "steps", 1)
    checks.integer(config, "seed", 0)
    checks.integer(config, "combos_per_chunk", 1)
    checks.integer(config, "export_top", 0)
    checks.integer(config, "holdout_restarts", 0)
    checks.one_of(config, "export_by", EXPORT_BY)
    ids = {*(REFERENCES if references else ()), *(f"c{i:03d}" for i in range(combos))}
    unknown = [i for i in checks.names(config, "export") if i not in ids]
    if unknown:
        raise ConfigError(f"config.export: names unknown combinations {unknown}; ids are "
                          f"{'row1..row4 and ' if references else ''}c000..c{combos - 1:03d}")


def run_search(config, workdir: str) -> dict:
    """Runs (or resumes) the search; returns counts, seconds and the chosen ids."""
    check_config(config)
    net = jaxvis.load_model(config.model, weights=config.weights or None, spec=checks.model_spec(config))
    judge = jaxvis.load_model(config.judge) if config.judge else None
    with checks.field("probes"):
        probes = [parse_probe(net, p) for p in config.probes]
    combos = combinations(config)
    chunks = plan_chunks(combos, config.combos_per_chunk)
    # re-exporting is free; so is another held-out check
    wd.claim(workdir, config.to_dict(), extend_keys=("export", "export_top", "export_by", "holdout_restarts"))
    by_id = {c["id"]: c for c in combos}
    if hosts.index() == 0:
        files.write_json(os.path.join(workdir, "combinations.json"), combos)

    statistics = color_statistics(net) if set(families(config)) - {"pixel"} else None

    def run_chunk(chunk):
        return {"chunk": chunk, "combos": _run_chunk(net, judge, config, probes, chunk, by_id, workdir, statistics)}

    info = chunked.run(workdir, chunks, run_chunk, cost=lambda c: len(c["combos"]),
                       units=lambda c: len(c["combos"]) * len(probes))
    # Every process scores and picks (the same records, the same result), then shares the held-out runs.
    metas = [m for record in chunked.read_records(workdir, chunks) for m in record["combos"]]
    table = score_table(metas)
    picked = chosen(table, config)
    holdout = search_holdout.run(net, judge, config, picked, workdir, statistics)
    if hosts.index() == 0:
        files.remove_temporaries(workdir)
        files.write_json(os.path.join(workdir, "scores.json"), table)
        files.write_json(os.path.join(workdir, "families.json"), scores.family_ranking(table))
        files.write_json(os.path.join(workdir, "holdout.json"), holdout)
        write_presets(os.path.join(workdir, "presets.py"), picked, workdir, holdout)
        search_gallery.write(workdir, net, config, [probe_name(p) for p in probes], table, {r["id"] for r in picked},
                             holdout)
    return {"combinations": len(combos), "probes": len(probes), **info, "chosen": [r["id"] for r in picked],
            "holdout": {i: h["recognisability"] for i, h in holdout.items()}}

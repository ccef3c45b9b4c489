"""The automated scores of a combination, each higher-is-better, computed per
probe unit and averaged over the probes where they apply:

- activation: the best value reached (over restarts), divided by the best any
  combination reached for that probe, so 1 is the strongest combination;
- recognisability: for class units, the independent network's softmax
  probability of that class on the displayed (uint8) images, averaged over
  restarts (on the demo world the judge is ``demo_b``): does a network that
  was not optimised against see the class too?
- diversity: the mean RMS difference between the restarts' displayed images,
  over all pairs, in [0, 1] (1 = black vs white): do restarts find different
  solutions, as in the paper's 3x3 grids?
"""

from __future__ import annotations

import itertools

import numpy as np

NAMES = ("activation", "recognisability", "diversity")


def diversity(images) -> float | None:
    """images [R, H, W, 3] uint8 -> mean pairwise RMS difference / 255; None for one restart."""
    images = np.asarray(images, np.float64) / 255.0
    pairs = list(itertools.combinations(range(len(images)), 2))
    if not pairs:
        return None
    return float(np.mean([np.sqrt(np.mean((images[a] - images[b]) ** 2)) for a, b in pairs]))


def relative_activation(best: np.ndarray) -> np.ndarray:
    """best [combos, probes] (each probe's best value over restarts) -> the
    same divided by each probe's largest |value| over the combinations."""
    scale = np.max(np.abs(best), axis=0, keepdims=True)
    return best / np.where(scale > 0, scale, 1.0)


def mean_or_none(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def combined_rank(table: list[dict]) -> list[float]:
    """Mean rank (0 = best) of each row over the scores it has, for choosing presets."""
    n = len(table)
    ranks = [[] for _ in range(n)]
    for name in NAMES:
        have = [i for i in range(n) if table[i].get(name) is not None]
        for r, i in enumerate(sorted(have, key=lambda i: -table[i][name])):
            ranks[i].append(r)
    return [float(np.mean(r)) if r else float(n) for r in ranks]


def family_ranking(table: list[dict]) -> list[dict]:
    """One row per image family of the score table's sampled combinations:
    their count, and each score's best and mean over them (None when no
    combination has it); ordered by the mean recognisability, then the mean
    activation (highest first). Not by the best: a family's best of many
    combinations, each scored on a few probe images, is biased upward by
    the number of draws (docs/feature_vis.md)."""
    by_family: dict[str, list[dict]] = {}
    for row in table:
        if row["kind"] == "sampled":
            by_family.setdefault(row["settings"].get("family", "pixel"), []).append(row)
    out = []
    for family, rows in by_family.items():
        entry = {"family": family, "combinations": len(rows)}
        for name in NAMES:
            have = [r[name] for r in rows if r.get(name) is not None]
            entry[f"best_{name}"] = float(max(have)) if have else None
            entry[f"mean_{name}"] = float(np.mean(have)) if have else None
        out.append(entry)

    def key(e):
        return tuple(-(e[f"mean_{n}"] if e[f"mean_{n}"] is not None else -np.inf) for n in NAMES[1::-1])

    return sorted(out, key=key)

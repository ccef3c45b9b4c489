"""The distributions ``jaxvis search`` samples (θ_decay, θ_b_width,
θ_b_every, θ_n_pct, θ_c_pct) from. The paper did not publish its ranges
(docs/ascent.md, Table 1), so these are jaxvis's own, chosen to cover Table 1's
four rows with room on both sides:

- every regularizer is *off* with a fixed probability (decay and blur 25%,
  the two clippings 50%): off is a real choice (each Table 1 row turns off
  two to four of the five), which a continuous range would almost never draw;
- θ_decay: log-uniform in [1e-4, 0.5] when on. Table 1 uses 1e-4 and 0.3;
  decay is multiplicative per step, so its effect spans orders of magnitude;
  above 0.5 the image is erased faster than the gradient can write it;
- θ_b_width: uniform in [0.3, 1.5] px when on (Table 1: 0.5 and 1.0; below
  0.3 a Gaussian barely changes a pixel, above 1.5 it erases the small
  features of early layers);
- θ_b_every: uniform integer in 1..8 when blur is on (Table 1: 4), else 0;
- θ_n_pct: uniform in [5, 80] when on (Table 1: 20 and 50);
- θ_c_pct: uniform in [10, 95] when on (Table 1: 90).

Every combination runs with the same learning rate (Table 1 row 3's
constant rate, scaled by the model's ``ascent_lr_scale``) and number of steps,
so scores compare the regularization alone. Sampling is deterministic in
the seed (numpy's PCG64).

With several ``families`` (``sample(..., families=("pixel", "fourier",
"maco"))``) each combination first draws its family uniformly, then its
hyperparameters: the five above for pixel; for fourier and maco (Adam, see
docs/feature_vis.md) Adam's lr log-uniform in [0.005, 0.5] (Lucid's 0.05 in
the middle, two decades), the per-step random transforms on with
probability 0.8, and the diversity weight across restarts off with
probability 0.5, else log-uniform in [0.01, 1]. With the pixel family alone
the draws are exactly those above.
"""

from __future__ import annotations

import numpy as np

FIELDS = ("decay", "blur_width", "blur_every", "norm_pct", "contrib_pct")
OFF_PROBABILITY = {"decay": 0.25, "blur": 0.25, "norm_pct": 0.5, "contrib_pct": 0.5}
RANGES = {"decay": (1e-4, 0.5), "blur_width": (0.3, 1.5), "blur_every": (1, 8), "norm_pct": (5.0, 80.0),
          "contrib_pct": (10.0, 95.0)}


NEW_FIELDS = ("lr", "transforms", "diversity")
NEW_RANGES = {"lr": (0.005, 0.5), "diversity": (0.01, 1.0)}
TRANSFORMS_PROBABILITY = 0.8
DIVERSITY_OFF_PROBABILITY = 0.5


def sample(n: int, seed: int, families: tuple[str, ...] = ("pixel",)) -> list[dict]:
    """``n`` combinations {decay, blur_width, blur_every, norm_pct, contrib_pct}
    (python floats/ints); with several ``families``, each also has ``family``
    and, for fourier and maco, {lr, transforms, diversity} instead. Drawn one
    combination after another, so the first k of a larger sample are the k of
    a smaller one with the same seed and families."""
    rng = np.random.default_rng(seed)
    if tuple(families) == ("pixel",):
        return [_one(rng) for _ in range(n)]
    out = []
    for _ in range(n):
        family = str(families[int(rng.integers(len(families)))])
        out.append({"family": family, **(_one(rng) if family == "pixel" else _one_new(rng))})
    return out


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _one_new(rng: np.random.Generator) -> dict:
    lr = _log_uniform(rng, *NEW_RANGES["lr"])
    transforms = bool(rng.random() < TRANSFORMS_PROBABILITY)
    diversity_on = bool(rng.random() >= DIVERSITY_OFF_PROBABILITY)
    diversity = _log_uniform(rng, *NEW_RANGES["diversity"])
    return {"lr": lr, "transforms": transforms, "diversity": diversity if diversity_on else 0.0}


def _one(rng: np.random.Generator) -> dict:
    on = {k: bool(rng.random() >= p) for k, p in OFF_PROBABILITY.items()}
    lo, hi = np.log(RANGES["decay"][0]), np.log(RANGES["decay"][1])
    decay, width, every, norm, contrib = (float(np.exp(rng.uniform(lo, hi))), float(rng.uniform(*RANGES["blur_width"])),
                                          int(rng.integers(RANGES["blur_every"][0], RANGES["blur_every"][1] + 1)),
                                          float(rng.uniform(*RANGES["norm_pct"])),
                                          float(rng.uniform(*RANGES["contrib_pct"])))
    return {"decay": decay if on["decay"] else 0.0, "blur_width": width if on["blur"] else 0.0,
            "blur_every": every if on["blur"] else 0, "norm_pct": norm if on["norm_pct"] else 0.0,
            "contrib_pct": contrib if on["contrib_pct"] else 0.0}

"""Pure scoring functions for a quality score of every unit: numpy arrays in,
python floats or numpy arrays out. Feature vectors and probabilities are given
as arrays (the caller computes them with a network); nothing here loads a
network.

- :func:`relative_to_dataset`: the activation a visualization reaches, as a
  fraction of the unit's strongest activation over a dataset (a top-k run);
- :func:`transferability`: does an independent network classify the
  visualizations as the unit's class (Fel et al. 2023)?
- :func:`plausibility`: how close are the visualizations to real images of the
  class in an independent network's feature space (Fel et al. 2023)?
- :func:`machine_forced_choice` and :func:`forced_choice_trials`: the machine
  version of the forced-choice psychophysics task (Borowski et al. 2021,
  Zimmermann et al. 2024): do a unit's references tell its strongest dataset
  images from its weakest?
- :func:`feature_diversity`: do a unit's restarts differ in feature space?

Pixel diversity (mean pairwise RMS difference of the restarts' displayed
images) is :func:`jaxvis.search.scores.diversity`; it is not repeated here.

Cosine similarity is computed in float64 on the vectors divided by their
Euclidean norms; a zero-norm vector has cosine 0 with every vector (itself
included).
"""

from __future__ import annotations

import numpy as np

from jaxvis.errors import ConfigError

TIE_ATOL = 1e-12  # two similarities closer than this count as equal in a forced-choice trial


def relative_to_dataset(best_values, dataset_max) -> np.ndarray:
    """``best_values / dataset_max`` (numpy broadcasting) as a float64 array:
    the activation reached by each visualization divided by the unit's
    strongest activation over a dataset (the best value of a top-k run), so
    1 means the visualization activates the unit as much as its best dataset
    image. An entry whose ``dataset_max`` is <= 0 (a unit that no dataset image
    activates) is NaN, not a division by a non-positive number; a NaN
    ``dataset_max`` gives NaN too."""
    best = np.asarray(best_values, np.float64)
    top = np.asarray(dataset_max, np.float64)
    try:
        shape = np.broadcast_shapes(best.shape, top.shape)
    except ValueError:
        raise ConfigError(f"dataset_max must broadcast against best_values' shape {best.shape}, "
                          f"got shape {top.shape}") from None
    best, top = np.broadcast_to(best, shape), np.broadcast_to(top, shape)
    positive = top > 0
    return np.divide(best, np.where(positive, top, 1.0), out=np.full(shape, np.nan), where=positive)


def transferability(probs, label) -> dict:
    """probs [N, K] class probabilities of N images (the visualizations) given
    by an independent network, label an int in [0, K) -> {"fraction": the
    fraction of the N images whose argmax class is ``label`` (numpy's argmax:
    the first maximum on ties), "mean_p": the mean over the N images of
    ``probs[:, label]``} as python floats (Fel et al. 2023, "transferability")."""
    probs = _matrix("probs", probs, "[N, K]")
    k = probs.shape[1]
    if not _is_int(label) or not 0 <= label < k:
        raise ConfigError(f"label must be an int in [0, {k}) (probs has K={k} classes), got {label!r}")
    return {"fraction": float(np.mean(np.argmax(probs, axis=1) == label)),
            "mean_p": float(np.mean(probs[:, label]))}


def plausibility(features, real_features) -> float:
    """features [N, D] of N visualizations and real_features [M, D] of M real
    images of the class, both in an independent network's feature space ->
    the mean of cos(features[i], real_features[j]) over all N * M pairs (i, j)
    (Fel et al. 2023, "plausibility": the cosine similarity of an image's
    representation to the class's real images), a python float in [-1, 1].
    Computed as the dot product of the mean unit vector of each side, which
    equals the mean over pairs."""
    feats = _matrix("features", features, "[N, D]")
    real = _matrix("real_features", real_features, "[M, D]", d=feats.shape[1], other="the features'")
    return float(_unit_rows(feats).mean(axis=0) @ _unit_rows(real).mean(axis=0))


def machine_forced_choice(reference_features, strong_features, weak_features) -> float:
    """The machine forced-choice score of a unit (after Borowski et al. 2021 and
    Zimmermann et al. 2024): reference_features [k, D] (the unit's
    visualizations, or its top natural patches), strong_features [T, D] and
    weak_features [T, D] (dataset images among the unit's strongest and
    weakest; trial t shows strong_features[t] against weak_features[t]).

    The similarity of a query to the references is its mean cosine similarity
    to the k references. Trial t scores 1 when sim(strong[t]) > sim(weak[t]),
    1/2 when the two are equal (within an absolute ``TIE_ATOL`` = 1e-12, so
    that equal cosines which differ by rounding count as ties), 0 otherwise.
    Returns the mean score over the T trials, a python float in [0, 1]
    (0.5 is chance). See :func:`forced_choice_trials` for drawing the pairs."""
    strong = _matrix("strong_features", strong_features, "[T, D]")
    t, d = strong.shape
    weak = _matrix("weak_features", weak_features, "[T, D]", d=d, other="the strong_features'", rows=t)
    refs = _matrix("reference_features", reference_features, "[k, D]", d=d, other="the queries'")
    centre = _unit_rows(refs).mean(axis=0)  # mean over references of cos(q, r) = unit(q) . mean(unit(r))
    s_strong, s_weak = _unit_rows(strong) @ centre, _unit_rows(weak) @ centre
    tie = np.abs(s_strong - s_weak) <= TIE_ATOL
    return float(np.mean(np.where(tie, 0.5, (s_strong > s_weak).astype(np.float64))))


def forced_choice_trials(n_strong: int, n_weak: int, trials: int, seed: int) -> np.ndarray:
    """Index pairs for ``trials`` forced-choice trials: an int64 array
    [trials, 2] whose row t is (strong index in [0, n_strong), weak index in
    [0, n_weak)), so that trial t compares strong_pool[pairs[t, 0]] with
    weak_pool[pairs[t, 1]]. No (strong, weak) pair repeats while
    trials <= n_strong * n_weak; beyond that, every pair is used
    floor(trials / (n_strong * n_weak)) or one more times. Deterministic in the
    seed (numpy's PCG64, ``np.random.default_rng(seed)``)."""
    for name, value in (("n_strong", n_strong), ("n_weak", n_weak), ("trials", trials)):
        if not _is_int(value) or value < 1:
            raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    if not _is_int(seed):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    pairs = int(n_strong) * int(n_weak)
    if trials <= pairs:
        flat = rng.choice(pairs, size=int(trials), replace=False)
    else:
        rounds = -(-int(trials) // pairs)
        flat = np.concatenate([rng.permutation(pairs) for _ in range(rounds)])[:trials]
    flat = np.asarray(flat, np.int64)
    return np.stack([flat // n_weak, flat % n_weak], axis=1)


def feature_diversity(features) -> float | None:
    """features [R, D] of a unit's R restarts (one vector per restart) ->
    1 - the mean cosine similarity over the R(R-1)/2 pairs of restarts, a
    python float in [0, 2] (0: all restarts point the same way), from one
    Gram matrix of the normalised features; None when R < 2."""
    feats = np.asarray(features, np.float64)
    if feats.ndim != 2:
        raise ConfigError(f"features must be [R, D] (one feature vector per restart), got shape {feats.shape}")
    r = feats.shape[0]
    if r < 2:
        return None
    unit = _unit_rows(feats)
    gram = unit @ unit.T
    return float(1.0 - gram[np.triu_indices(r, 1)].mean())


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its Euclidean norm; zero rows stay zero (cosine 0)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def _matrix(name: str, x, expected: str, d: int | None = None, other: str = "", rows: int | None = None):
    """x as a float64 [n, D] array with n >= 1 and D >= 1 (D == d and n == rows when given), else ConfigError."""
    letters = expected.strip("[]").split(", ")
    try:
        x = np.asarray(x, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a numeric array {expected}, got {type(x).__name__}") from None
    ok = x.ndim == 2 and x.shape[0] >= 1 and x.shape[1] >= 1
    ok = ok and (d is None or x.shape[1] == d) and (rows is None or x.shape[0] == rows)
    if not ok:
        need = [f"{other} {letters[0]}={rows}" if rows is not None else f"{letters[0]} >= 1"]
        need += [f"{other} {letters[1]}={d}" if d is not None else f"{letters[1]} >= 1"]
        raise ConfigError(f"{name} must be {expected} with {' and '.join(need)}, got shape {x.shape}")
    return x


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))

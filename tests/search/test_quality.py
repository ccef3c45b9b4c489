"""The unit-quality scores of jaxvis/search/quality.py, each checked against an
independent plain-Python loop written here, on hand-computed tiny cases, on
ties and zero vectors, and on the ConfigErrors of bad shapes."""

import itertools
import math

import numpy as np
import pytest

from jaxvis.errors import ConfigError
from jaxvis.search import quality


def cos(a, b) -> float:
    """Cosine of two vectors by a Python loop, 0 when either is zero."""
    dot = sum(float(x) * float(y) for x, y in zip(a, b))
    na, nb = math.sqrt(sum(float(x) ** 2 for x in a)), math.sqrt(sum(float(y) ** 2 for y in b))
    return 0.0 if na == 0 or nb == 0 else dot / (na * nb)


# relative_to_dataset

def test_relative_to_dataset_matches_a_loop_and_broadcasts_over_units():
    rng = np.random.default_rng(0)
    best, top = rng.normal(size=(4, 5)), rng.normal(size=5)
    top[1] = 0.0
    got = quality.relative_to_dataset(best, top)
    assert got.shape == (4, 5) and got.dtype == np.float64
    for i in range(4):
        for j in range(5):
            want = best[i, j] / top[j] if top[j] > 0 else math.nan
            assert got[i, j] == pytest.approx(want, nan_ok=True)


def test_relative_to_dataset_is_nan_for_non_positive_maxima():
    got = quality.relative_to_dataset([2.0, 3.0, 1.0, 4.0], [4.0, 0.0, -1.0, np.nan])
    assert got[0] == 0.5 and np.isnan(got[1:]).all()


def test_relative_to_dataset_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(ConfigError, match="dataset_max"):
        quality.relative_to_dataset(np.ones((2, 3)), np.ones(2))


# transferability

def test_transferability_matches_a_loop():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=30)
    for label in range(4):
        got = quality.transferability(probs, label)
        hits = [max(range(4), key=lambda c: row[c]) == label for row in probs]
        assert got["fraction"] == pytest.approx(sum(hits) / 30)
        assert got["mean_p"] == pytest.approx(sum(row[label] for row in probs) / 30)
        assert type(got["fraction"]) is float and type(got["mean_p"]) is float


def test_transferability_by_hand_with_an_argmax_tie_going_to_the_first_class():
    probs = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1]]
    assert quality.transferability(probs, 0) == pytest.approx({"fraction": 0.75, "mean_p": 0.475})
    assert quality.transferability(probs, 1) == pytest.approx({"fraction": 0.25, "mean_p": 0.45})


@pytest.mark.parametrize("probs,label,name", [(np.ones(3), 0, "probs"), (np.ones((0, 3)), 0, "probs"),
                                              (np.ones((2, 3)), 3, "label"), (np.ones((2, 3)), -1, "label"),
                                              (np.ones((2, 3)), 1.0, "label"), (np.ones((2, 3)), True, "label")])
def test_transferability_rejects_bad_inputs(probs, label, name):
    with pytest.raises(ConfigError, match=name):
        quality.transferability(probs, label)


# plausibility

def test_plausibility_is_the_mean_cosine_over_all_pairs():
    rng = np.random.default_rng(2)
    feats, real = rng.normal(size=(5, 7)), rng.normal(size=(6, 7)) + 0.5
    feats[3] = 0.0  # a zero vector has cosine 0 with every real image
    want = sum(cos(f, r) for f in feats for r in real) / (5 * 6)
    got = quality.plausibility(feats, real)
    assert type(got) is float and got == pytest.approx(want, abs=1e-12)


def test_plausibility_by_hand():
    real = [[1.0, 0.0], [0.0, 2.0]]
    assert quality.plausibility([[3.0, 0.0]], real) == pytest.approx(0.5)  # cos 1 and cos 0
    assert quality.plausibility([[1.0, 1.0]], real) == pytest.approx(math.sqrt(0.5))
    assert quality.plausibility([[-1.0, 0.0], [1.0, 0.0]], [[5.0, 0.0]]) == pytest.approx(0.0)
    assert quality.plausibility([[0.0, 0.0]], real) == 0.0


@pytest.mark.parametrize("feats,real,name", [(np.ones(3), np.ones((2, 3)), "features"),
                                             (np.ones((2, 3)), np.ones((2, 4)), "real_features"),
                                             (np.ones((2, 3)), np.ones((0, 3)), "real_features")])
def test_plausibility_rejects_bad_shapes(feats, real, name):
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        quality.plausibility(feats, real)


# machine_forced_choice

def forced_choice_loop(refs, strong, weak) -> float:
    """The forced-choice score, one trial and one cosine at a time."""
    score = 0.0
    for s, w in zip(strong, weak):
        sim_s = sum(cos(s, r) for r in refs) / len(refs)
        sim_w = sum(cos(w, r) for r in refs) / len(refs)
        score += 0.5 if abs(sim_s - sim_w) <= 1e-12 else float(sim_s > sim_w)
    return score / len(strong)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_machine_forced_choice_matches_a_loop_over_trials(seed):
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=6)
    refs = rng.normal(size=(4, 6)) + direction
    strong = rng.normal(size=(40, 6)) + 0.3 * direction
    weak = rng.normal(size=(40, 6)) - 0.3 * direction
    weak[:5] = strong[:5] * 3.0  # exact ties (the same direction), however the cosines round
    weak[5] = 0.0
    got = quality.machine_forced_choice(refs, strong, weak)
    assert type(got) is float and got == forced_choice_loop(refs, strong, weak)
    assert 0.0 <= got <= 1.0


def test_machine_forced_choice_by_hand():
    strong, weak = [[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]
    assert quality.machine_forced_choice([[5.0, 0.0]], strong, weak) == 1.0  # refs point at the strong
    assert quality.machine_forced_choice([[0.0, 5.0]], strong, weak) == 0.0  # refs point at the weak
    assert quality.machine_forced_choice([[1.0, 1.0]], strong, weak) == 0.5  # equal similarity: ties
    assert quality.machine_forced_choice([[1.0, 0.0], [0.0, 1.0]], strong, weak) == 0.5
    assert quality.machine_forced_choice([[0.0, 0.0]], strong, weak) == 0.5  # zero reference: all cos 0
    # one trial won, one lost, one tied:
    assert quality.machine_forced_choice([[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                                         [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]) == 0.5
    assert quality.machine_forced_choice([[1.0, 0.0]], [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                                         [[0.0, 1.0], [-1.0, 0.0], [0.0, 1.0]]) == pytest.approx(5 / 6)


@pytest.mark.parametrize("refs,strong,weak,name", [
    (np.ones((2, 2)), np.ones((3, 3)), np.ones((3, 3)), "reference_features"),
    (np.ones((0, 3)), np.ones((3, 3)), np.ones((3, 3)), "reference_features"),
    (np.ones((2, 3)), np.ones((3, 3)), np.ones((4, 3)), "weak_features"),
    (np.ones((2, 3)), np.ones((3, 3)), np.ones((3, 2)), "weak_features"),
    (np.ones((2, 3)), np.ones(3), np.ones(3), "strong_features"),
    (np.ones((2, 3)), np.ones((0, 3)), np.ones((0, 3)), "strong_features")])
def test_machine_forced_choice_rejects_bad_shapes(refs, strong, weak, name):
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        quality.machine_forced_choice(refs, strong, weak)


def test_machine_forced_choice_error_names_the_expected_d():
    with pytest.raises(ConfigError, match=r"reference_features must be \[k, D\] .*D=3, got shape \(2, 2\)"):
        quality.machine_forced_choice(np.ones((2, 2)), np.ones((3, 3)), np.ones((3, 3)))


# forced_choice_trials

def test_forced_choice_trials_is_deterministic_in_the_seed_and_in_range():
    a = quality.forced_choice_trials(9, 7, 30, seed=11)
    assert a.shape == (30, 2) and a.dtype == np.int64
    assert np.array_equal(a, quality.forced_choice_trials(9, 7, 30, seed=11))
    assert not np.array_equal(a, quality.forced_choice_trials(9, 7, 30, seed=12))
    assert a[:, 0].min() >= 0 and a[:, 0].max() < 9 and a[:, 1].min() >= 0 and a[:, 1].max() < 7


def test_forced_choice_trials_does_not_repeat_a_pair_while_it_can():
    for n_s, n_w, t in [(3, 4, 12), (9, 9, 50), (1000, 1000, 200)]:
        pairs = quality.forced_choice_trials(n_s, n_w, t, seed=0)
        assert len({tuple(p) for p in pairs.tolist()}) == t


def test_forced_choice_trials_repeats_every_pair_evenly_beyond_all_pairs():
    pairs = quality.forced_choice_trials(2, 3, 20, seed=1)  # 6 pairs, 20 trials: each 3 or 4 times
    counts = np.bincount(pairs[:, 0] * 3 + pairs[:, 1], minlength=6)
    assert counts.sum() == 20 and counts.min() >= 3 and counts.max() <= 4


@pytest.mark.parametrize("args,name", [((0, 3, 5, 0), "n_strong"), ((3, 0, 5, 0), "n_weak"),
                                       ((3, 3, 0, 0), "trials"), ((3, 3, 2.5, 0), "trials"),
                                       ((3, 3, 5, "a"), "seed")])
def test_forced_choice_trials_rejects_bad_counts(args, name):
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        quality.forced_choice_trials(*args)


# feature_diversity

def test_feature_diversity_matches_a_loop_over_pairs():
    rng = np.random.default_rng(6)
    feats = rng.normal(size=(6, 5)) + 1.0
    feats[2] = 0.0
    pairs = list(itertools.combinations(range(6), 2))
    want = 1.0 - sum(cos(feats[a], feats[b]) for a, b in pairs) / len(pairs)
    got = quality.feature_diversity(feats)
    assert type(got) is float and got == pytest.approx(want, abs=1e-12)


def test_feature_diversity_by_hand():
    assert quality.feature_diversity([[1.0, 0.0], [3.0, 0.0]]) == pytest.approx(0.0)
    assert quality.feature_diversity([[1.0, 0.0], [0.0, 1.0]]) == pytest.approx(1.0)
    assert quality.feature_diversity([[1.0, 0.0], [-2.0, 0.0]]) == pytest.approx(2.0)
    assert quality.feature_diversity([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]) == pytest.approx(2 / 3)
    assert quality.feature_diversity([[0.0, 0.0], [0.0, 0.0]]) == pytest.approx(1.0)  # zero vectors: cos 0


def test_feature_diversity_is_none_below_two_restarts_and_rejects_bad_shapes():
    assert quality.feature_diversity(np.ones((1, 4))) is None
    assert quality.feature_diversity(np.ones((0, 4))) is None
    with pytest.raises(ConfigError, match="^features must be"):
        quality.feature_diversity(np.ones(4))

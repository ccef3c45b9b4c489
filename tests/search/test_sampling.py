"""The search's sampling distributions, checked on many draws against what
jaxvis/search/sampling.py documents (scipy's KS test for the continuous ones)."""

import numpy as np
import pytest
from scipy import stats

from jaxvis.search import sampling

N = 20000


@pytest.fixture(scope="module")
def draws():
    combos = sampling.sample(N, seed=3)
    return {k: np.array([c[k] for c in combos]) for k in sampling.FIELDS}


def test_deterministic_in_the_seed():
    assert sampling.sample(50, 7) == sampling.sample(50, 7)
    assert sampling.sample(50, 7) != sampling.sample(50, 8)
    assert sampling.sample(10, 7) == sampling.sample(50, 7)[:10]


@pytest.mark.parametrize("field,off", [("decay", 0.25), ("blur_width", 0.25), ("norm_pct", 0.5),
                                       ("contrib_pct", 0.5)])
def test_each_regularizer_is_off_with_its_documented_probability(draws, field, off):
    share = np.mean(draws[field] == 0)
    assert abs(share - off) < 4 * np.sqrt(off * (1 - off) / N), share


def test_decay_is_log_uniform_between_1e_4_and_0_5(draws):
    on = np.log(draws["decay"][draws["decay"] > 0])
    lo, hi = np.log(1e-4), np.log(0.5)
    assert on.min() >= lo and on.max() <= hi
    assert stats.kstest(on, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3


@pytest.mark.parametrize("field,lo,hi", [("blur_width", 0.3, 1.5), ("norm_pct", 5, 80), ("contrib_pct", 10, 95)])
def test_uniform_ranges(draws, field, lo, hi):
    on = draws[field][draws[field] > 0]
    assert on.min() >= lo and on.max() <= hi
    assert stats.kstest(on, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3


def test_blur_every_is_1_to_8_exactly_when_blur_is_on(draws):
    every, width = draws["blur_every"], draws["blur_width"]
    assert np.array_equal(every == 0, width == 0)
    counts = np.bincount(every[every > 0], minlength=9)[1:]
    assert stats.chisquare(counts).pvalue > 1e-3


FAMILIES = ("pixel", "fourier", "maco")


@pytest.fixture(scope="module")
def family_draws():
    return sampling.sample(N, seed=5, families=FAMILIES)


def test_families_are_drawn_uniformly_each_with_its_own_fields(family_draws):
    names = [c["family"] for c in family_draws]
    counts = [names.count(f) for f in FAMILIES]
    assert stats.chisquare(counts).pvalue > 1e-3
    for c in family_draws[:200]:
        own = set(sampling.FIELDS) if c["family"] == "pixel" else set(sampling.NEW_FIELDS)
        assert set(c) == {"family", *own}
    assert sampling.sample(10, 5, FAMILIES) == family_draws[:10]
    assert sampling.sample(50, 7) == sampling.sample(50, 7, ("pixel",))  # the pixel family alone: as before


def test_new_family_hyperparameters_follow_their_documented_distributions(family_draws):
    new = [c for c in family_draws if c["family"] != "pixel"]
    lr = np.log([c["lr"] for c in new])
    lo, hi = np.log(0.005), np.log(0.5)
    assert lr.min() >= lo and lr.max() <= hi
    assert stats.kstest(lr, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3
    on = np.mean([c["transforms"] for c in new])
    assert abs(on - 0.8) < 4 * np.sqrt(0.16 / len(new))
    div = np.array([c["diversity"] for c in new])
    assert abs(np.mean(div == 0) - 0.5) < 4 * np.sqrt(0.25 / len(new))
    logs = np.log(div[div > 0])
    assert stats.kstest(logs, stats.uniform(np.log(0.01), np.log(100)).cdf).pvalue > 1e-3

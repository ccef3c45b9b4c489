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

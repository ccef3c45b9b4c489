"""The ranking of image families from a score table, against a table built by hand."""

from jaxvis.search import scores


def row(id_, family, activation, recognisability, diversity, kind="sampled"):
    return {"id": id_, "kind": kind, "settings": {"family": family}, "activation": activation,
            "recognisability": recognisability, "diversity": diversity}


def test_families_are_ranked_by_their_mean_recognisability_with_bests():
    table = [row("row3", "pixel", 1.0, 0.99, 0.1, kind="reference"),  # references are not sampled: left out
             row("c000", "pixel", 0.9, 0.30, 0.2), row("c001", "fourier", 0.5, 0.70, None),
             row("c002", "maco", 0.6, 0.60, 0.3), row("c003", "fourier", 0.7, 0.40, 0.1),
             row("c004", "maco", 0.8, None, 0.5)]
    ranked = scores.family_ranking(table)
    assert [r["family"] for r in ranked] == ["maco", "fourier", "pixel"]  # means 0.6, 0.55, 0.3; bests 0.6, 0.7, 0.3
    maco, fourier, pixel = ranked
    assert fourier["combinations"] == 2 and maco["combinations"] == 2 and pixel["combinations"] == 1
    assert fourier["best_recognisability"] == 0.7 and abs(fourier["mean_recognisability"] - 0.55) < 1e-12
    assert maco["mean_recognisability"] == 0.6 and abs(maco["mean_activation"] - 0.7) < 1e-12
    assert fourier["best_diversity"] == 0.1 and pixel["best_activation"] == 0.9


def test_ties_in_mean_recognisability_go_to_the_better_mean_activation():
    # activations: pixel 0.6; maco 0.1 and 0.8 (a better best, a worse mean)
    table = [row("c000", "pixel", 0.6, 0.5, 0.2), row("c001", "maco", 0.1, 0.5, 0.2),
             row("c002", "maco", 0.8, 0.5, 0.2)]
    assert [r["family"] for r in scores.family_ranking(table)] == ["pixel", "maco"]

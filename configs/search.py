"""The 300-combination random search of the regularization hyperparameters
on the shipped demo network, judged by the independent demo_b.

    jaxvis search --config=configs/search.py --workdir=workdirs/search

300 sampled combinations (distributions: jaxvis/search/sampling.py) plus
Table 1's four rows as references, each run on 6 probe units (4 class units
of fc8, 2 conv5 units) x 2 restarts for 100 steps: 3,648 ascents in one
batch per chunk of 8 combinations: 45-55 minutes on a 2-core CPU. The review
gallery is workdirs/search/index.html; the 4 sampled combinations that
demo_b recognises best are exported to workdirs/search/presets.py
(``--config.export="('c017',)"`` or ``--config.export_by=...`` with the
same command re-exports without recomputing). Each exported combination is
then re-run on all 10 class units with 3 restarts the search never drew,
and demo_b's held-out recognisability goes into presets.py and the gallery
(jaxvis/jobs/search_holdout.py). Re-running resumes.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""  # "": the shipped weights
    c.judge = "demo_b"  # the independent network that scores recognisability; "": none
    c.probes = ("fc8:0", "fc8:3", "fc8:6", "fc8:9", "conv5:0", "conv5:5")  # layer:channel[:y:x]
    c.families = ("pixel",)  # image families to sample: pixel (the paper's), fourier, maco (search_families.py)
    c.combinations = 300
    c.references = True  # Table 1's rows 1-4 too (with this config's steps)
    c.restarts = 2
    c.steps = 100
    c.seed = 0  # sampling and restart seed
    c.combos_per_chunk = 8  # combinations per compiled batch (x probes x restarts); one resumable record each
    c.export_top = 4
    c.export_by = "recognisability"  # recognisability | activation | diversity | rank (mean rank over the three)
    c.export = ()  # ids to export instead of the best export_top, e.g. ("c017", "c203")
    c.holdout_restarts = 3  # each exported combination re-run on every class unit with this many new restarts; 0: off
    return c

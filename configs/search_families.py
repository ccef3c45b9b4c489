"""The random search over image families on the shipped demo network: the
paper's pixel ascent, Lucid's Fourier images and MaCo's phase-only images
(docs/feature_vis.md), each with its own sampled hyperparameters, judged by
the independent demo_b.

    jaxvis search --config=configs/search_families.py --workdir=workdirs/search_families

120 sampled combinations (a third of each family on average; distributions:
jaxvis/search/sampling.py) plus Table 1's four rows, on the same 6 probes x
2 restarts as configs/search.py, 256 steps each (the new families need more
steps than the paper's 100). The review gallery's front page ranks the
families (workdirs/search_families/families.json). Re-running resumes.
"""

import os

from jaxvis.config_files import get_config as config_from_file


def get_config():
    c = config_from_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "search.py"))
    c.families = ("pixel", "fourier", "maco")
    c.combinations = 120
    c.steps = 256
    return c

"""jaxvis search --config=configs/search.py --workdir=workdirs/search [--config.key=value]

The random search of the regularization hyperparameters: sampled
combinations and Table 1's rows, vmapped over probe units, with a review
gallery at WORKDIR/index.html and the chosen combinations in
WORKDIR/presets.py. Resumable; uses every local device; see launch/ for
multi-host jobs.
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("search")
def main(argv):
    from jaxvis.jobs.search_job import run_search

    info, workdir = host_flags.run_job("search", argv, run_search)
    print(f"{info['combinations']} combinations x {info['probes']} probes ({info['chunks_run']} chunks run, "
          f"{info['chunks_skipped']} already done) in {info['seconds']}s; gallery: "
          f"{os.path.join(workdir, 'index.html')}")
    if info["chosen"]:
        print(f"exported {', '.join(info['chosen'])} to {os.path.join(workdir, 'presets.py')}")
    if info["holdout"]:
        print("held-out recognisability (every class unit, new restarts): "
              + ", ".join(f"{i} {v:.3f}" for i, v in info["holdout"].items()))

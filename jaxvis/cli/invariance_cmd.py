"""jaxvis invariance --config=configs/invariance_demo.py --workdir=workdirs/invariance_demo

Translation, scale and rotation sweeps: feature distances and p(true class),
as curves in WORKDIR/invariance.png and numbers in WORKDIR/summary.json.
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("invariance")
def main(argv):
    from jaxvis.jobs.invariance_job import run_invariance

    summary, workdir = host_flags.run_job("invariance", argv, run_invariance, every_process=False)
    if summary is not None:
        print(f"relative feature distance at a small shift: {summary['finding']}; "
              f"curves: {os.path.join(workdir, 'invariance.png')}")

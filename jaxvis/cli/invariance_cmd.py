"""jaxvis invariance --config=configs/invariance_demo.py --workdir=workdirs/invariance_demo

Translation, scale and rotation sweeps: feature distances and p(true class),
as curves in WORKDIR/invariance.png and numbers in WORKDIR/summary.json.
"""

import os

from jaxvis.cli import host_flags, job_flags
from jaxvis.cli.errors import user_errors


@user_errors("invariance")
def main(argv):
    job_flags.start("invariance", argv)
    host_flags.join()
    from jaxvis.jobs import hosts

    if hosts.index() != 0:  # a small job: process 0 does it all
        return
    from jaxvis.jobs.invariance_job import run_invariance

    workdir = job_flags.WORKDIR.value
    finding = run_invariance(job_flags.CONFIG.value, workdir)["finding"]
    print(f"relative feature distance at a small shift: {finding}; curves: {os.path.join(workdir, 'invariance.png')}")

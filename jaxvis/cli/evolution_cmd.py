"""jaxvis evolution --config=configs/evolution_demo.py --workdir=workdirs/evolution_demo

Feature evolution across a training run's checkpoints and its conv1 filters,
as figures in WORKDIR (index.html).
"""

import os

from jaxvis.cli import host_flags, job_flags
from jaxvis.cli.errors import user_errors


@user_errors("evolution")
def main(argv):
    job_flags.start("evolution", argv)
    host_flags.join()
    from jaxvis.jobs import hosts

    if hosts.index() != 0:  # a small job: process 0 does it all
        return
    from jaxvis.jobs.evolution_job import run_evolution

    workdir = job_flags.WORKDIR.value
    summary = run_evolution(job_flags.CONFIG.value, workdir)
    print(f"{len(summary['checkpoints'])} checkpoints; figures: {os.path.join(workdir, 'index.html')}")

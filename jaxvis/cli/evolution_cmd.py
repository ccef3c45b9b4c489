"""jaxvis evolution --config=configs/evolution_demo.py --workdir=workdirs/evolution_demo

Feature evolution across a training run's checkpoints and its conv1 filters,
as figures in WORKDIR (index.html).
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("evolution")
def main(argv):
    from jaxvis.jobs.evolution_job import run_evolution

    summary, workdir = host_flags.run_job("evolution", argv, run_evolution, every_process=False)
    if summary is not None:
        print(f"{len(summary['checkpoints'])} checkpoints; figures: {os.path.join(workdir, 'index.html')}")

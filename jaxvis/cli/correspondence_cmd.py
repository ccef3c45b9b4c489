"""jaxvis correspondence --config=configs/correspondence_demo.py --workdir=workdirs/correspondence_demo

Δ of Zeiler & Fergus Table 1 for part vs random occlusions, as a table in
WORKDIR/index.html and WORKDIR/correspondence.json.
"""

import os

from jaxvis.cli import host_flags, job_flags
from jaxvis.cli.errors import user_errors


@user_errors("correspondence")
def main(argv):
    job_flags.start("correspondence", argv)
    host_flags.join()
    from jaxvis.jobs import hosts

    if hosts.index() != 0:  # a small job: process 0 does it all
        return
    from jaxvis.jobs.correspondence_job import run_correspondence

    workdir = job_flags.WORKDIR.value
    config = job_flags.CONFIG.value
    table = run_correspondence(config, workdir)
    for part, row in table.items():
        cells = "  ".join(f"{l}: part {row[f'part_{l}'][0]:.3f}±{row[f'part_{l}'][1]:.3f} random "
                          f"{row[f'random_{l}'][0]:.3f}±{row[f'random_{l}'][1]:.3f}" for l in config.layers)
        print(f"{part:16s} {cells}")
    print(f"table: {os.path.join(workdir, 'index.html')}")

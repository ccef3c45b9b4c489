"""jaxvis correspondence --config=configs/correspondence_demo.py --workdir=workdirs/correspondence_demo

Δ of Zeiler & Fergus Table 1 for part vs random occlusions, as a table in
WORKDIR/index.html and WORKDIR/correspondence.json.
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("correspondence")
def main(argv):
    from jaxvis.jobs.correspondence_job import run_correspondence

    table, workdir = host_flags.run_job("correspondence", argv, run_correspondence, every_process=False)
    for part, row in (table or {}).items():
        cells = "  ".join(f"{k[5:]}: part {row[k][0]:.3f}±{row[k][1]:.3f} random {row['random' + k[4:]][0]:.3f}"
                          f"±{row['random' + k[4:]][1]:.3f}" for k in row if k.startswith("part_"))
        print(f"{part:16s} {cells}")
    if table is not None:
        print(f"table: {os.path.join(workdir, 'index.html')}")

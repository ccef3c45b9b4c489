"""jaxvis topk --config=configs/topk_demo.py --workdir=workdirs/topk_demo [--config.key=value]

The top-k images of every unit over an image stream, with receptive-field
patches and deconvolutions, resumable, with a gallery at WORKDIR/index.html.
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("topk")
def main(argv):
    from jaxvis.jobs.topk_job import run_topk

    info, workdir = host_flags.run_job("topk", argv, run_topk)
    print(f"{info['images']} images ({info['skipped']} skipped; {info['chunks_run']} chunks run, "
          f"{info['chunks_skipped']} already done); gallery: {os.path.join(workdir, 'index.html')}")

"""jaxvis occlusion --config=configs/occlusion_demo.py --workdir=workdirs/occlusion_demo [--config.key=value]

Occlusion sensitivity maps for a set of images, resumable, with a gallery at
WORKDIR/index.html and the pointing game in WORKDIR/summary.json.
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("occlusion")
def main(argv):
    from jaxvis.jobs.occlusion_job import run_occlusion

    info, workdir = host_flags.run_job("occlusion", argv, run_occlusion)
    game = "" if info.get("pointing_game") is None else f"; pointing game {100 * info['pointing_game']:.1f}%"
    print(f"{info.get('images', 0)} images ({info['chunks_run']} chunks run, {info['chunks_skipped']} already done)"
          f"{game}; gallery: {os.path.join(workdir, 'index.html')}")

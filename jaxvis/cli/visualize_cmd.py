"""jaxvis visualize --config=configs/demo.py --workdir=workdirs/vis_demo [--config.key=value]

Optimized images for every unit of the chosen layers, resumable, with a
static HTML gallery at WORKDIR/index.html. Uses every local device; see
launch/ for multi-host jobs.
"""

import os

from absl import flags

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors

_EXTEND = flags.DEFINE_bool("extend", False, "add layers or presets to an existing workdir (keeps its finished units)")


@user_errors("visualize")
def main(argv):
    from jaxvis.jobs import run_visualize

    info, workdir = host_flags.run_job("visualize", argv, lambda c, w: run_visualize(c, w, extend=_EXTEND.value))
    print(f"{info['units']} units ({info['chunks_run']} chunks run, {info['chunks_skipped']} already done) "
          f"in {info['seconds']}s; gallery: {os.path.join(workdir, 'index.html')}")

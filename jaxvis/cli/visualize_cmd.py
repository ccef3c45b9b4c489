"""jaxvis visualize --config=configs/demo.py --workdir=workdirs/vis_demo [--config.key=value]

Optimized images for every unit of the chosen layers, resumable, with a
static HTML gallery at WORKDIR/index.html.
"""

from absl import flags
from ml_collections import config_flags

from jaxvis.cli.errors import user_errors

_CONFIG = config_flags.DEFINE_config_file("config", None, "job config file (configs/demo.py)")
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory (re-running resumes)", required=True)
flags.mark_flags_as_required(["config"])


@user_errors("visualize")
def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"jaxvis visualize: unexpected arguments {argv[1:]}")
    import os

    from absl import logging

    from jaxvis.jobs import run_visualize

    logging.set_verbosity(logging.INFO)
    info = run_visualize(_CONFIG.value, _WORKDIR.value)
    print(f"{info['units']} units ({info['chunks_run']} chunks run, {info['chunks_skipped']} already done) "
          f"in {info['seconds']}s; gallery: {os.path.join(_WORKDIR.value, 'index.html')}")

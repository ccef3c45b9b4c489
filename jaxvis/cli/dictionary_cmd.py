"""jaxvis dictionary --config=configs/demo_dictionary.py --workdir=workdirs/dictionary_demo [--config.key=value]

Learns a TopK sparse autoencoder on one layer's activations (resumable,
WORKDIR/dictionary), then visualizes every feature like a unit, with its
scores, top-9 and pages (WORKDIR/gallery/index.html). Re-running the same
command resumes. Each training step's images are split across the local
devices (GPUs, TPU cores; a CPU is one device: XLA already spreads a step
over its cores).
"""

import os

from jaxvis.cli import host_flags
from jaxvis.cli.errors import user_errors


@user_errors("dictionary")
def main(argv):
    from jaxvis.jobs.dictionary_job import GALLERY_DIR, run_dictionary

    info, workdir = host_flags.run_job("dictionary", argv, run_dictionary, every_process=False)
    if info is None:
        return
    m = info["dictionary"].meta["metrics"]
    print(f"dictionary: {info['dictionary'].latents} features on {info['dictionary'].layer}; held-out fve "
          f"{m['fve']:.3f}, L0 {m['l0']:.1f}, never fired {m['never_fired']:.3f} "
          f"({os.path.join(workdir, 'dictionary')})")
    if info["gallery"] is not None:
        print(f"gallery: {os.path.join(workdir, GALLERY_DIR, 'index.html')} ({info['seconds']}s in all)")

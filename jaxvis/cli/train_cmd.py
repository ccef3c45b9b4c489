"""jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo [--config.key=value]

Trains a demo-family network; re-running the same command resumes.
"""

from absl import flags
from ml_collections import config_flags

from jaxvis.cli.errors import user_errors

_CONFIG = config_flags.DEFINE_config_file("config", None, "training config file (configs/demo_train.py)")
_WORKDIR = flags.DEFINE_string("workdir", None, "directory for checkpoints and exported models", required=True)
flags.mark_flags_as_required(["config"])


@user_errors("train")
def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"jaxvis train: unexpected arguments {argv[1:]}")
    from absl import logging

    from jaxvis.train import train_and_evaluate

    logging.set_verbosity(logging.INFO)
    info = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    print(f"held-out accuracy {info['eval_accuracy']:.4f} on {info['eval_images']} images (seed {info['eval_seed']})")

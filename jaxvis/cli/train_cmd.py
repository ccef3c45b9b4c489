"""jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo [--config.key=value]

Trains a demo-family network; re-running the same command resumes.
"""

from jaxvis.cli import job_flags
from jaxvis.cli.errors import user_errors


@user_errors("train")
def main(argv):
    job_flags.start("train", argv)
    from jaxvis.train import train_and_evaluate

    info = train_and_evaluate(job_flags.CONFIG.value, job_flags.WORKDIR.value)
    print(f"held-out accuracy {info['eval_accuracy']:.4f} on {info['eval_images']} images (seed {info['eval_seed']})")

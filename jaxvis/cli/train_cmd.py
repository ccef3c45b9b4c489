"""jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo [--config.key=value]

Trains a demo-family network; re-running the same command resumes. Each
batch is split across the local devices; on a CPU, one device per core
(``--cpu_devices``), because XLA keeps about one core busy per device with
convolutions this small.
"""

import os

from absl import flags

from jaxvis.cli import job_flags
from jaxvis.cli.errors import user_errors

CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", os.cpu_count() or 1,
    "CPU only: the number of CPU devices a batch is split across (default: one per core)", lower_bound=1)


@user_errors("train")
def main(argv):
    job_flags.start("train", argv)
    import jax

    jax.config.update("jax_num_cpu_devices", CPU_DEVICES.value)
    from jaxvis.train import train_and_evaluate

    info = train_and_evaluate(job_flags.CONFIG.value, job_flags.WORKDIR.value)
    print(f"held-out accuracy {info['eval_accuracy']:.4f} on {info['eval_images']} images (seed {info['eval_seed']})")

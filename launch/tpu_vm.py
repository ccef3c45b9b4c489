"""Runs a jaxvis job on every worker of a Cloud TPU VM (one host or a pod slice).

  python launch/tpu_vm.py --tpu=my-v4-32 --zone=us-central2-b --job=visualize \\
      --config=configs/caffenet.py --workdir=/mnt/shared/vis_caffenet --setup --dry_run

One `gcloud compute tpus tpu-vm ssh NAME --worker=all` command per step: with
--setup first `pip install -e .` in --repo_dir on all workers, then the job
with --multihost (jax detects the TPU slice's processes by itself).
"""

from __future__ import annotations

import os
import sys

if not __package__:  # run as `python launch/tpu_vm.py`: make `launch` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags

from launch import common


def ssh_command(tpu: str, zone: str, project: str | None, remote: str) -> list[str]:
    """argv of `gcloud compute tpus tpu-vm ssh TPU --worker=all --command=REMOTE`."""
    return ["gcloud", "compute", "tpus", "tpu-vm", "ssh", tpu, f"--zone={zone}",
            *([f"--project={project}"] if project else []), "--worker=all", f"--command={remote}"]


def build_steps(tpu: str, zone: str, project: str | None, job: str, config: str, workdir: str,
                overrides=(), repo_dir: str = "~/jaxvis", setup: bool = False) -> list[list[common.Command]]:
    """The setup step (when asked), then the job step; one gcloud command each."""
    argv = common.jaxvis_command(job, config, workdir, overrides, ["--multihost"])
    steps = []
    if setup:
        remote = common.remote_shell_command(repo_dir, ["pip", "install", "-e", "."])
        steps.append([common.Command(tpu, ssh_command(tpu, zone, project, remote))])
    steps.append([common.Command(tpu, ssh_command(tpu, zone, project, common.remote_shell_command(repo_dir, argv)))])
    return steps


def define_flags() -> None:
    flags.DEFINE_string("tpu", None, "name of the TPU VM (or pod slice)", required=True)
    flags.DEFINE_string("zone", None, "zone of the TPU VM", required=True)
    flags.DEFINE_string("project", None, "Google Cloud project (default: gcloud's configured one)")
    flags.DEFINE_bool("setup", False, "first run `pip install -e .` in --repo_dir on all workers")
    common.define_job_flags()
    flags.adopt_module_key_flags(common)


def steps_from_flags(f) -> list[list[common.Command]]:
    return build_steps(f.tpu, f.zone, f.project, f.job, f.config, f.workdir, f.override, f.repo_dir, f.setup)


if __name__ == "__main__":
    common.run_script("tpu_vm.py", define_flags, steps_from_flags)

"""Runs a jaxvis job on GPU machines: one VM, several hosts over ssh, or Slurm.

  python launch/gpu.py --hosts=gpu0,gpu1 --job=search --config=configs/search.py \\
      --workdir=/mnt/shared/search --override=config.restarts=3 --dry_run

One process per host, which shards its batches over all of the host's GPUs.
- No --hosts: runs the job here. One host: runs it there over ssh. Neither
  needs multi-host flags.
- N > 1 hosts: one `ssh HOST "cd REPO && jaxvis ..."` per host, in parallel,
  with --coordinator_address=HOST0:PORT --num_processes=N --process_id=I.
- --slurm: one `srun --nodes=N --ntasks-per-node=G --gpus-per-node=G jaxvis ...
  --multihost` (from inside an allocation, in the current directory): one
  process per GPU, as jax's Slurm detection expects (it gives each process
  the GPU of its local task id). N is --nodes, or the number of --hosts
  (then also --nodelist); G is --gpus_per_node.
"""

from __future__ import annotations

import os
import sys

if not __package__:  # run as `python launch/gpu.py`: make `launch` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags

from launch import common


def _hostname(host: str) -> str:
    return host.rpartition("@")[2]


def build_steps(hosts, job: str, config: str, workdir: str, overrides=(), repo_dir: str = "~/jaxvis",
                port: int = 8476) -> list[list[common.Command]]:
    """No host: the job here. One host: over ssh. N hosts: N ssh commands run in parallel."""
    hosts = list(hosts)
    if not hosts:
        return [[common.Command("local", common.jaxvis_command(job, config, workdir, overrides))]]
    if len(hosts) == 1:
        argv = common.jaxvis_command(job, config, workdir, overrides)
        return [[common.Command(hosts[0], ["ssh", hosts[0], common.remote_shell_command(repo_dir, argv)])]]
    coordinator = f"--coordinator_address={_hostname(hosts[0])}:{port}"
    step = []
    for i, host in enumerate(hosts):
        argv = common.jaxvis_command(job, config, workdir, overrides,
                                     [coordinator, f"--num_processes={len(hosts)}", f"--process_id={i}"])
        step.append(common.Command(host, ["ssh", host, common.remote_shell_command(repo_dir, argv)]))
    return [step]


def build_slurm_steps(nodes: int | None, hosts, job: str, config: str, workdir: str,
                      overrides=(), gpus_per_node: int = 8) -> list[list[common.Command]]:
    """One srun command: a process per GPU, --multihost (jax reads Slurm's environment)."""
    if gpus_per_node < 1:
        raise common.LaunchError(f"--gpus_per_node must be >= 1, got {gpus_per_node}")
    hosts = list(hosts)
    if hosts and nodes is not None and nodes != len(hosts):
        raise common.LaunchError(f"--nodes={nodes} but --hosts names {len(hosts)} hosts")
    n = nodes if nodes is not None else len(hosts)
    if n < 1:
        raise common.LaunchError("--slurm needs --nodes=N or --hosts=node1,node2,...")
    argv = common.jaxvis_command(job, config, workdir, overrides, ["--multihost"])
    srun = ["srun", f"--nodes={n}", f"--ntasks-per-node={gpus_per_node}",
            f"--gpus-per-node={gpus_per_node}", *([f"--nodelist={','.join(hosts)}"] if hosts else [])]
    return [[common.Command("slurm", srun + argv)]]


def define_flags() -> None:
    flags.DEFINE_list("hosts", [], "comma-separated hosts ([user@]host) for ssh; the first one is the coordinator "
                      "and must be reachable by that name from the others")
    flags.DEFINE_integer("port", 8476, "coordinator port on the first host")
    flags.DEFINE_bool("slurm", False, "print/run one srun command instead of ssh")
    flags.DEFINE_integer("nodes", None, "with --slurm: number of nodes (default: the number of --hosts)")
    flags.DEFINE_integer("gpus_per_node", 8, "with --slurm: GPUs per node (one process each)")
    common.define_job_flags()
    flags.adopt_module_key_flags(common)


def steps_from_flags(f) -> list[list[common.Command]]:
    if f.slurm:
        return build_slurm_steps(f.nodes, f.hosts, f.job, f.config, f.workdir, f.override, f.gpus_per_node)
    return build_steps(f.hosts, f.job, f.config, f.workdir, f.override, f.repo_dir, f.port)


if __name__ == "__main__":
    common.run_script("gpu.py", define_flags, steps_from_flags)

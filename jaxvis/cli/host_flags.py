"""Multi-host flags of the chunked jobs (see jaxvis.jobs.hosts and launch/)."""

from __future__ import annotations

from absl import flags

from jaxvis.cli import job_flags  # the job commands' --config and --workdir

MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "join a multi-host job with jax.distributed.initialize()'s own cluster detection "
    "(Cloud TPU, Slurm, Open MPI); every host runs the same command")
COORDINATOR = flags.DEFINE_string(
    "coordinator_address", "", "multi-process job without detection: HOST:PORT of process 0")
NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "multi-process job without detection: number of processes")
PROCESS_ID = flags.DEFINE_integer("process_id", -1, "multi-process job without detection: this process, 0..N-1")


def join() -> None:
    from jaxvis.jobs import hosts

    hosts.initialize(MULTIHOST.value, COORDINATOR.value, NUM_PROCESSES.value, PROCESS_ID.value)


def run_job(command: str, argv: list[str], run, every_process: bool = True):
    """The body of a job command: checks the arguments, joins a multi-host
    launch, then ``run(config, workdir)``. Jobs that do not share out their
    work (``every_process=False``) run on process 0 only; the others return
    None. Returns (result, workdir)."""
    from jaxvis.jobs import hosts

    job_flags.start(command, argv)
    join()
    workdir = job_flags.WORKDIR.value
    if not every_process and hosts.index() != 0:
        return None, workdir
    return run(job_flags.CONFIG.value, workdir), workdir

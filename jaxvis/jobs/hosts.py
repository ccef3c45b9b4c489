"""Several processes (hosts) sharing one job: each takes every k-th chunk and
writes only its own files; process 0 writes the gallery once all are done.

A multi-host launch is started by ``--multihost`` (``jax.distributed.initialize()``
detects Cloud TPU, Slurm and Open MPI by itself) or by the explicit
``--coordinator_address``, ``--num_processes`` and ``--process_id`` flags
(any cluster; the multi-process test runs two processes on localhost).
One process without these flags is the ordinary single-host job, which still
uses every local device (see ``jaxvis.sharding``).
"""

from __future__ import annotations

import jax

from jaxvis.errors import ConfigError


def initialize(multihost: bool = False, coordinator_address: str = "", num_processes: int = 0,
               process_id: int = -1) -> None:
    """Joins the multi-process job when asked to; otherwise does nothing."""
    explicit = bool(coordinator_address) or num_processes > 0 or process_id >= 0
    if explicit and not (coordinator_address and num_processes > 0 and 0 <= process_id < num_processes):
        raise ConfigError("a multi-process launch needs all of --coordinator_address=HOST:PORT, "
                          "--num_processes=N (>= 1) and --process_id=I (0 <= I < N); got "
                          f"{coordinator_address!r}, {num_processes}, {process_id}")
    if explicit:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    elif multihost:
        jax.distributed.initialize()


def index() -> int:
    return jax.process_index()


def count() -> int:
    return jax.process_count()


def share(items: list) -> list:
    """This process's items: every count()-th, starting at index()."""
    return items[index()::count()]


def barrier(name: str) -> None:
    """Waits until every process got here (no-op for a single process)."""
    if count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)

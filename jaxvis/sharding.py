"""Batches split across every local device with ``jax.sharding``: the batch
axis of the per-element arrays is sharded over a one-axis mesh of
``jax.local_devices()`` and the parameters are replicated, so one jitted
step runs as one SPMD program on all GPUs or TPU cores of the host. On a
single device this changes nothing. A batch is padded to a multiple of the
device count by repeating its last element, and the padding is dropped from
the results."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def local_mesh(divides: int | None = None) -> Mesh:
    """Every local device; with ``divides``, the most of them that split a
    batch of that size evenly (for training, whose batches are not padded)."""
    devices = jax.local_devices()
    count = len(devices)
    while divides is not None and divides % count:
        count -= 1
    return Mesh(np.array(devices[:count]), ("batch",))


def padded_size(n: int, devices: int) -> int:
    return -(-n // devices) * devices


def pad_batch(tree, n: int, size: int):
    """Repeats the last element of every [n, ...] leaf up to ``size``."""
    if size == n:
        return tree
    return jax.tree_util.tree_map(lambda a: np.concatenate([a, np.repeat(a[-1:], size - n, 0)]),
                                  jax.tree_util.tree_map(np.asarray, tree))


def shard_batch(tree, mesh: Mesh):
    """Splits the leading (batch) axis of every leaf across the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec("batch")))


def replicate(tree, mesh: Mesh):
    """A copy of every leaf on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def place(batch_tree, replicated_tree, mesh: Mesh):
    """Puts the per-element leaves on the batch sharding and the rest on every device."""
    return shard_batch(batch_tree, mesh), replicate(replicated_tree, mesh)

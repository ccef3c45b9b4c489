"""Where the jobs put a unit's files, in one place: the visualize job, the
top-k job and their galleries (which link to each other) all call these.

A blob name can hold ``/`` (a Flax module path, ``layer1/0/conv1``); in file
and folder names it is written with ``.`` instead (``layer1.0.conv1``), so
every unit sits at the same depth whatever its network.
"""

from __future__ import annotations

import os


def blob_file_name(layer: str) -> str:
    """``layer`` as one path component."""
    return layer.replace("/", ".")


def visualize_unit_dir(workdir: str, preset: str, layer: str, channel: int) -> str:
    """A ``jaxvis visualize`` unit: its restart images, grid.png and meta.json."""
    return os.path.join(workdir, "units", preset, blob_file_name(layer), f"{channel:04d}")


def topk_unit_dir(workdir: str, layer: str, channel: int) -> str:
    """A ``jaxvis topk`` unit: its patches, deconvs and meta.json."""
    return os.path.join(workdir, "units", blob_file_name(layer), f"{channel:04d}")

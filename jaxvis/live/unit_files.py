"""A unit's pictures from finished jobs, for the live view: its top-9
patches and their deconvolutions from a ``jaxvis topk`` workdir, its
optimized images from a ``jaxvis visualize`` workdir (one grid per preset).

Files are served only from inside those workdirs: ``resolve`` refuses an
absolute path, a ``..`` component, and any path (symlinks followed) whose
real location lies outside the workdir's real location.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from jaxvis.errors import ConfigError
from jaxvis.jobs.paths import topk_unit_dir, visualize_unit_dir

ROOTS = ("topk", "optimized")


def check_workdir(path: str | None, flag: str) -> str | None:
    """``path`` as an absolute real path, or a ConfigError when it is not a folder."""
    if path is None:
        return None
    if not os.path.isdir(path):
        raise ConfigError(f"--{flag} {path!r} is not a folder; expected the workdir of a finished `jaxvis "
                          f"{'topk' if flag == 'topk' else 'visualize'}` run")
    return os.path.realpath(path)


def resolve(root: str, relative: str) -> str | None:
    """The file ``relative`` inside the folder ``root``, or None when it is
    absent, not a regular file, or would lead outside ``root``."""
    if not relative or relative.startswith(("/", "\\")) or "\\" in relative or "\0" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts) or os.path.isabs(relative):
        return None
    real = os.path.realpath(os.path.join(root, *parts))
    if os.path.commonpath([real, root]) != root or not os.path.isfile(real):
        return None
    return real


def unit_views(roots: dict[str, str | None], layer: str, channel: int) -> dict:
    """URLs (``/files/<root>/<path>``) of the unit's pictures that exist:
    {"topk": {"patches": url, "deconvs": url} or None, "optimized": [{"preset", "url"}]}."""
    views: dict = {"topk": None, "optimized": []}
    topk = roots.get("topk")
    if topk:
        unit = os.path.relpath(topk_unit_dir(topk, layer, channel), topk)
        found = {name: quote(f"/files/topk/{unit}/{name}.png") for name in ("patches", "deconvs")
                 if resolve(topk, f"{unit}/{name}.png")}
        views["topk"] = found or None
    optimized = roots.get("optimized")
    if optimized and os.path.isdir(os.path.join(optimized, "units")):
        for preset in sorted(os.listdir(os.path.join(optimized, "units"))):
            unit = os.path.relpath(visualize_unit_dir(optimized, preset, layer, channel), optimized)
            if resolve(optimized, f"{unit}/grid.png"):
                views["optimized"].append({"preset": preset, "url": quote(f"/files/optimized/{unit}/grid.png")})
    return views

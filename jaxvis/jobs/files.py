"""Text files that appear whole or not at all: written to a temporary name
in the same directory, then renamed (atomic on POSIX), so a killed job never
leaves a half-written file behind under the final name. PNGs are written the
same way by ``jaxvis.render.save_png``."""

from __future__ import annotations

import json
import os


def write_text(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def write_json(path: str, obj) -> str:
    return write_text(path, json.dumps(obj, indent=1, sort_keys=True))

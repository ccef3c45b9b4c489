"""Files that appear whole or not at all: written to a temporary name in the
same directory, then renamed (atomic on POSIX), so a killed job never leaves
a half-written file behind under the final name. Every file jaxvis's jobs
write goes through ``write_bytes`` (text, JSON, PNG, npz)."""

from __future__ import annotations

import json
import os
import re

_TEMPORARY = re.compile(r".+\.tmp\d+$")


def write_bytes(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temporary_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def write_text(path: str, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj) -> str:
    return write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def temporary_name(path: str) -> str:
    """Where ``path`` is written before the rename (one per process)."""
    return f"{path}.tmp{os.getpid()}"


def remove_temporaries(directory: str, prefix: str = "") -> int:
    """Removes what a killed writer left in ``directory`` (files named
    ``<prefix>*.tmp<pid>``); returns how many. Jobs call it on what they are
    about to write (only that: another process may be writing next to it),
    so a resumed run ends with exactly the files of an uninterrupted one."""
    if not os.path.isdir(directory):
        return 0
    stale = [n for n in os.listdir(directory) if n.startswith(prefix) and _TEMPORARY.fullmatch(n)]
    for n in stale:
        os.remove(os.path.join(directory, n))
    return len(stale)

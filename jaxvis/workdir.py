"""A workdir (of a job or of a training run) remembers the config that created it and refuses another."""

from __future__ import annotations

import json
import os

from jaxvis import files
from jaxvis.errors import JaxvisError

CONFIG_FILE = "config.json"
# Keys that may change between runs of one workdir without changing what is trained.
FREE_KEYS = frozenset({"log_every"})


def _diff(old: dict, new: dict) -> list[str]:
    keys = sorted((set(old) | set(new)) - FREE_KEYS)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def claim(workdir: str, config: dict, extend_keys: tuple = (), hint: str = "", added: dict | None = None) -> bool:
    """Creates ``workdir`` for ``config`` or checks it was made with the same
    config. Returns True when the workdir already existed (a resume).
    ``extend_keys``: keys allowed to differ (the stored config is then
    replaced: the caller extends the workdir on purpose); ``hint`` ends the
    refusal's message; ``added``: {key: default} of fields that came after
    workdirs were made: a stored config without one was made with its
    default."""
    path = os.path.join(workdir, CONFIG_FILE)
    config = json.loads(json.dumps(config))  # tuples -> lists, as stored
    if os.path.isfile(path):
        with open(path) as f:
            old = json.load(f)
        changes = _diff(old, config)
        known = {**json.loads(json.dumps(added or {})), **old}  # the fields it lacks at their defaults
        refused = {c.split(":")[0] for c in _diff(known, config)} - set(extend_keys)
        fixed = [c for c in changes if c.split(":")[0] in refused]  # named as stored
        if fixed:
            raise JaxvisError(
                f"workdir {workdir} was created with a different config ({'; '.join(fixed)}); "
                f"use a new --workdir, or the original config to resume{hint}"
            )
        if changes:
            files.write_json(path, config)
        return True
    if os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise JaxvisError(f"workdir {workdir} holds checkpoints but no {CONFIG_FILE}; refusing to train on top of them")
    files.write_json(path, config)
    return False

"""The resumable part shared by every long job: a fixed list of chunks, each
recorded by ``chunks/<id>.json`` once its files are written (write-then-
rename, so a record exists only for a finished chunk). Re-running skips the
recorded chunks; the others are recomputed from scratch with the same
inputs and therefore the same outputs. With several processes each takes
every k-th chunk (``hosts.share``), so no file has two writers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable

from absl import logging

from jaxvis import files
from jaxvis.errors import JaxvisError
from jaxvis.jobs import hosts

CHUNKS = "chunks"


def record_path(workdir: str, chunk_id: str) -> str:
    return os.path.join(workdir, CHUNKS, chunk_id + ".json")


def is_done(workdir: str, chunk: dict) -> bool:
    return os.path.isfile(record_path(workdir, chunk["id"]))


def read_records(workdir: str, chunks: list[dict]) -> list[dict]:
    """Every chunk's record, in plan order; a clear error when some are missing
    (e.g. a multi-host job whose hosts do not share the workdir's filesystem)."""
    missing = [c["id"] for c in chunks if not is_done(workdir, c)]
    if missing:
        raise JaxvisError(
            f"{len(missing)} of {len(chunks)} chunk records are missing from {workdir}/{CHUNKS} "
            f"(first: {missing[0]}). In a multi-host job every host must write to one shared "
            "filesystem; otherwise copy the hosts' workdirs together and re-run the same command "
            "on one host: it skips the finished chunks and writes the gallery.")
    records = []
    for c in chunks:
        with open(record_path(workdir, c["id"])) as f:
            records.append(json.load(f))
    return records


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def run(workdir: str, chunks: list[dict], run_chunk: Callable[[dict], dict], cost: Callable[[dict], float],
        units: Callable[[dict], int]) -> dict:
    """Runs this process's unfinished chunks in order. ``run_chunk(chunk)``
    writes the chunk's files and returns its record; ``cost(chunk)`` is its
    relative work (the ETA weighs the chunks left by it); ``units(chunk)``
    counts what the progress line reports. Returns counts and seconds."""
    mine = hosts.share(chunks)
    todo = [c for c in mine if not is_done(workdir, c)]
    total_units, done_units = sum(units(c) for c in mine), sum(units(c) for c in mine if c not in todo)
    cost_left, cost_done = sum(cost(c) for c in todo), 0.0
    who = f"process {hosts.index()}/{hosts.count()}: " if hosts.count() > 1 else ""
    logging.info("%s%s: %d units in %d chunks; %d chunks already done", who, workdir, total_units, len(mine),
                 len(mine) - len(todo))
    t0 = time.time()
    for chunk in todo:
        record = run_chunk(chunk)
        files.remove_temporaries(os.path.join(workdir, CHUNKS), prefix=chunk["id"] + ".json")
        files.write_json(record_path(workdir, chunk["id"]), record)
        done_units += units(chunk)
        cost_done += cost(chunk)
        cost_left -= cost(chunk)
        elapsed = time.time() - t0
        eta = elapsed / cost_done * cost_left if cost_done else 0.0
        logging.info("%s%s units %d/%d  %s  elapsed %dm%02ds  eta %dm%02ds", who,
                     _bar(done_units / max(total_units, 1)), done_units, total_units, chunk["id"],
                     elapsed // 60, elapsed % 60, eta // 60, eta % 60)
    hosts.barrier("jaxvis-chunks-done")
    return {"chunks_run": len(todo), "chunks_skipped": len(mine) - len(todo), "seconds": round(time.time() - t0, 1)}

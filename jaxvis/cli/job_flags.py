"""The flags every long job takes: --config (an ml_collections file whose
fields can be overridden as --config.key=value) and --workdir (re-running
the same command resumes). Only the running command's module imports this,
so each command states its own help text here once."""

from __future__ import annotations

import logging as std_logging

from absl import flags, logging
from ml_collections import config_flags

CONFIG = config_flags.DEFINE_config_file("config", None, "job config file (see configs/)")
WORKDIR = flags.DEFINE_string("workdir", None, "output directory; re-running the same command resumes")
flags.mark_flags_as_required(["config", "workdir"])


def _not_library_chatter(record) -> bool:
    """Keeps jaxvis's progress lines and every warning; drops other packages'
    INFO lines (orbax logs a dozen per checkpoint read)."""
    return record.levelno >= std_logging.WARNING or "/jaxvis/" in record.pathname.replace("\\", "/")


def start(command: str, argv: list[str]) -> None:
    """Refuses stray positional arguments and turns on progress logging."""
    if len(argv) > 1:
        raise SystemExit(f"jaxvis {command}: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().python_handler.addFilter(_not_library_chatter)

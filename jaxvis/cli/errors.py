"""Turns a JaxvisError into one line on stderr and exit status 1."""

from __future__ import annotations

import functools
import sys

from jaxvis.errors import JaxvisError


def user_errors(command: str):
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (JaxvisError, FileNotFoundError) as e:
                print(f"jaxvis {command}: error: {e}", file=sys.stderr)
                sys.exit(1)

        return run

    return wrap

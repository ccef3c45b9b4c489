"""Multi-process settings: all three explicit flags or none; a single process takes every chunk."""

import pytest

from jaxvis.errors import JaxvisError
from jaxvis.jobs import hosts


@pytest.mark.parametrize("args", [("localhost:1234", 0, -1), ("", 2, 0), ("localhost:1234", 2, 2)])
def test_incomplete_or_inconsistent_multiprocess_flags_are_refused(args):
    with pytest.raises(JaxvisError, match="--coordinator_address=HOST:PORT, --num_processes=N"):
        hosts.initialize(False, *args)


def test_one_process_takes_everything():
    hosts.initialize()  # no flags: nothing to join
    assert (hosts.index(), hosts.count()) == (0, 1)
    assert hosts.share(list(range(7))) == list(range(7))
    hosts.barrier("nothing to wait for")

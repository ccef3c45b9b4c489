"""What the end-to-end job tests compare: a workdir's files by content, and
the CLI run in other processes (one, or two joined on localhost)."""

import hashlib
import os
import socket
import subprocess
import sys


def tree(root: str) -> dict[str, str]:
    """{path relative to root: sha256 of the file} for every file under root."""
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def text(workdir: str, path: str) -> str:
    """The text of the file ``path`` under ``workdir``."""
    with open(os.path.join(workdir, path)) as f:
        return f.read()


def same_files(workdir: str, reference: dict[str, str], unequal: tuple[str, ...] = ()) -> None:
    """Same file set, byte-identical files, except config.json (it may hold the
    flags' order) and the files ``unequal`` names, which need only exist."""
    got = tree(workdir)
    assert sorted(got) == sorted(reference)  # no file missing, none extra (no stray .tmp)
    differ = [p for p in reference if p not in ("config.json", *unequal) and got[p] != reference[p]]
    assert not differ, differ[:5]


def cli(command: str, config: str, workdir: str, *flags: str) -> list[str]:
    """The argv of ``jaxvis COMMAND --config=CONFIG --workdir=WORKDIR FLAGS...`` in this Python."""
    return [sys.executable, "-m", "jaxvis.cli.main", command, f"--config={config}", f"--workdir={workdir}", *flags]


def env(**extra) -> dict[str, str]:
    """This environment, with the repository importable (configs/) and ``extra``."""
    return dict(os.environ, PYTHONPATH=os.getcwd(), **extra)


def run_two_processes(argv: list[str]) -> list[str]:
    """Runs ``argv`` as two processes joined by jax.distributed on a free
    localhost port; asserts both succeed; returns their standard outputs."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([*argv, f"--coordinator_address=localhost:{port}", "--num_processes=2",
                               f"--process_id={i}"], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    return [out for out, _ in outs]

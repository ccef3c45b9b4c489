"""Shared pieces of the launch scripts: the flags every script takes, the
jaxvis command line, and printing or running the commands.

Not run on its own; see launch/tpu_vm.py and launch/gpu.py, e.g.

  python launch/gpu.py --job=visualize --config=configs/caffenet.py --workdir=workdirs/vis_caffenet --dry_run
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from typing import Callable, NamedTuple, Sequence

from absl import app, flags

JOBS = ("visualize", "search", "topk", "occlusion", "invariance", "correspondence", "evolution")


def define_job_flags() -> None:
    """The flags every launch script takes. Defined when a script runs, not on import, so that importing
    launch's modules (in tests, next to jaxvis's commands) never clashes over flag names."""
    flags.DEFINE_string("job", None, f"jaxvis job to run: one of {', '.join(JOBS)}", required=True)
    flags.DEFINE_string("config", None, "config file (configs/caffenet.py), relative to --repo_dir on remote "
                        "hosts", required=True)
    flags.DEFINE_string("workdir", None, "output directory, on a filesystem every host can write (re-running "
                        "the same command resumes)", required=True)
    flags.DEFINE_multi_string("override", [], "config override passed to the job: --override=config.restarts=3 "
                              "becomes --config.restarts=3 (repeatable)")
    flags.DEFINE_string("repo_dir", "~/jaxvis", "where jaxvis is checked out on the remote hosts (local and srun "
                        "runs use the current directory)")
    flags.DEFINE_bool("dry_run", False, "print the commands, one per line, instead of running them")


class LaunchError(Exception):
    """A bad flag value or a failed command, reported in one line."""


class Command(NamedTuple):
    host: str  # where the command's work happens (for messages): "local", a host name, a TPU name
    argv: list[str]


def check_job(job: str) -> str:
    if job not in JOBS:
        raise LaunchError(f"unknown job {job!r}; valid jobs: {', '.join(JOBS)}")
    return job


def override_flag(override: str) -> str:
    """'config.restarts=3' (or 'restarts=3', or '--config.restarts=3') -> '--config.restarts=3'."""
    key, eq, value = override.lstrip("-").partition("=")
    if not eq or not key:
        raise LaunchError(f"--override={override!r} is not KEY=VALUE (e.g. --override=config.restarts=3)")
    if not key.startswith("config."):
        key = "config." + key
    return f"--{key}={value}"


def jaxvis_command(job: str, config: str, workdir: str, overrides: Sequence[str] = (),
                   extra_flags: Sequence[str] = ()) -> list[str]:
    """argv of `jaxvis JOB --config=... --workdir=... [--config.key=value ...] [extra flags]`."""
    return ["jaxvis", check_job(job), f"--config={config}", f"--workdir={workdir}",
            *(override_flag(o) for o in overrides), *extra_flags]


def shell_path(path: str) -> str:
    """A path for a remote shell: quoted, but a leading ~ or ~user left bare so the shell expands it."""
    head, sep, tail = path.partition("/")
    if re.fullmatch(r"~[\w.-]*", head):
        return head + sep + (shlex.quote(tail) if tail else "")
    return shlex.quote(path)


def remote_shell_command(repo_dir: str, argv: Sequence[str]) -> str:
    """The one string a remote shell runs: `cd REPO && ARGV...`."""
    return f"cd {shell_path(repo_dir)} && {shlex.join(argv)}"


def execute(steps: Sequence[Sequence[Command]], dry_run: bool) -> None:
    """Runs the steps in order, the commands of one step in parallel (or prints them all)."""
    if dry_run:
        for step in steps:
            for c in step:
                print(shlex.join(c.argv), flush=True)
        return
    for step in steps:
        if len(step) == 1:
            try:
                subprocess.run(step[0].argv, check=True)
            except subprocess.CalledProcessError as e:
                raise LaunchError(f"command for {step[0].host} failed with exit status {e.returncode}: "
                                  f"{shlex.join(step[0].argv)}") from None
            continue
        procs = [(c, subprocess.Popen(c.argv)) for c in step]
        try:
            failed = [(c.host, p.wait()) for c, p in procs]
        except KeyboardInterrupt:
            for _, p in procs:
                p.terminate()
            raise
        failed = [(host, rc) for host, rc in failed if rc != 0]
        if failed:
            raise LaunchError("command failed on " + ", ".join(f"{h} (exit status {rc})" for h, rc in failed))


def run_script(script: str, define_flags: Callable[[], None],
               build: Callable[[flags.FlagValues], list[list[Command]]]) -> None:
    """A launch script's entry point: defines its flags, builds the steps from
    them and prints (--dry_run) or runs them; errors end in one line."""

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments {argv[1:]}")
        try:
            execute(build(flags.FLAGS), flags.FLAGS.dry_run)
        except LaunchError as e:
            sys.exit(f"launch/{script}: {e}")

    define_flags()
    app.run(main)

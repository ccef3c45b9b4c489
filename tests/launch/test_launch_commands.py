"""The launch scripts' commands: built by the pure functions, printed by
--dry_run, and run (with stand-in commands) in order or in parallel."""

import os
import shlex
import subprocess
import sys

import pytest

from launch import common, gpu, tpu_vm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = ["--job=visualize", "--config=configs/caffenet.py", "--workdir=/mnt/shared/vis"]


def dry_run(script, *args):
    r = subprocess.run([sys.executable, f"launch/{script}", *args, "--dry_run"], cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    return r, [shlex.split(line) for line in r.stdout.splitlines()]


def remote_argv(remote):
    """'cd REPO && jaxvis ...' -> ('REPO', ['jaxvis', ...])."""
    cd, repo, amp, *argv = shlex.split(remote)
    assert (cd, amp) == ("cd", "&&")
    return repo, argv


def test_importing_defines_no_flags():
    """Flags are defined only when a script runs, so tests may import these next to jaxvis's commands."""
    from absl import flags

    assert not {"job", "config", "workdir", "tpu", "hosts"} & set(flags.FLAGS)


def test_jaxvis_command_and_overrides():
    assert common.jaxvis_command("search", "configs/search.py", "w", ["config.restarts=3", "steps=5"], ["--x"]) == [
        "jaxvis", "search", "--config=configs/search.py", "--workdir=w", "--config.restarts=3",
        "--config.steps=5", "--x"]
    assert common.override_flag("--config.layers=('conv1',)") == "--config.layers=('conv1',)"
    with pytest.raises(common.LaunchError, match="KEY=VALUE"):
        common.override_flag("config.restarts")
    with pytest.raises(common.LaunchError, match="unknown job 'train'; valid jobs: visualize, search, topk"):
        common.jaxvis_command("train", "c", "w")


def test_remote_cd_keeps_tilde_bare():
    assert common.remote_shell_command("~/jaxvis", ["jaxvis", "a b"]) == "cd ~/jaxvis && jaxvis 'a b'"
    assert common.remote_shell_command("~", ["x"]) == "cd ~ && x"
    assert common.shell_path("~/my repo") == "~/'my repo'"
    assert common.shell_path("/srv/my repo") == "'/srv/my repo'"


def test_tpu_steps():
    setup, job = tpu_vm.build_steps("t", "z", "p", "search", "configs/search.py", "w", ["config.restarts=3"],
                                    setup=True)
    assert setup[0].argv[:-1] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "t", "--zone=z", "--project=p",
                                  "--worker=all"]
    assert setup[0].argv[-1] == "--command=cd ~/jaxvis && pip install -e ."
    assert job[0].argv[-1] == ("--command=cd ~/jaxvis && jaxvis search --config=configs/search.py --workdir=w "
                               "--config.restarts=3 --multihost")
    (only,), = tpu_vm.build_steps("t", "z", None, "visualize", "c", "w")
    assert not any(a.startswith("--project") for a in only.argv)


def test_tpu_dry_run():
    r, lines = dry_run("tpu_vm.py", "--tpu=pod", "--zone=us-central2-b", "--project=proj", "--setup",
                       "--override=config.restarts=3", *JOB)
    assert r.returncode == 0, r.stderr
    assert len(lines) == 2
    for argv in lines:
        assert argv[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod"]
        assert {"--zone=us-central2-b", "--project=proj", "--worker=all"} <= set(argv)
    assert remote_argv(lines[0][-1].removeprefix("--command=")) == ("~/jaxvis", ["pip", "install", "-e", "."])
    repo, argv = remote_argv(lines[1][-1].removeprefix("--command="))
    assert repo == "~/jaxvis"
    assert argv == ["jaxvis", "visualize", "--config=configs/caffenet.py", "--workdir=/mnt/shared/vis",
                    "--config.restarts=3", "--multihost"]


def test_gpu_ssh_dry_run_one_process_per_host():
    r, lines = dry_run("gpu.py", "--hosts=me@gpu0,gpu1,gpu2", "--port=9000", "--repo_dir=/srv/jaxvis",
                       "--override=config.layers=('conv1','conv2')", *JOB)
    assert r.returncode == 0, r.stderr
    assert [argv[:2] for argv in lines] == [["ssh", "me@gpu0"], ["ssh", "gpu1"], ["ssh", "gpu2"]]
    for i, argv in enumerate(lines):
        repo, job = remote_argv(argv[2])
        assert repo == "/srv/jaxvis"
        assert job == ["jaxvis", "visualize", "--config=configs/caffenet.py", "--workdir=/mnt/shared/vis",
                       "--config.layers=('conv1','conv2')", "--coordinator_address=gpu0:9000",
                       "--num_processes=3", f"--process_id={i}"]


def test_gpu_single_vm_has_no_multihost_flags():
    r, lines = dry_run("gpu.py", *JOB)
    assert r.returncode == 0, r.stderr
    assert lines == [["jaxvis", "visualize", "--config=configs/caffenet.py", "--workdir=/mnt/shared/vis"]]
    (one,), = gpu.build_steps(["gpu0"], "visualize", "configs/caffenet.py", "w")
    assert one.argv[:2] == ["ssh", "gpu0"]
    assert remote_argv(one.argv[2]) == ("~/jaxvis", ["jaxvis", "visualize", "--config=configs/caffenet.py",
                                                     "--workdir=w"])


def test_gpu_slurm_dry_run():
    r, lines = dry_run("gpu.py", "--slurm", "--nodes=4", "--override=config.restarts=3", *JOB)
    assert r.returncode == 0, r.stderr
    assert lines == [["srun", "--nodes=4", "--ntasks-per-node=8", "--gpus-per-node=8", "jaxvis", "visualize",
                      "--config=configs/caffenet.py", "--workdir=/mnt/shared/vis", "--config.restarts=3",
                      "--multihost"]]
    (one,), = gpu.build_slurm_steps(None, ["n1", "n2"], "search", "c", "w")
    (four,), = gpu.build_slurm_steps(1, [], "search", "c", "w", gpus_per_node=4)
    assert four.argv[:4] == ["srun", "--nodes=1", "--ntasks-per-node=4", "--gpus-per-node=4"]
    assert one.argv[:5] == ["srun", "--nodes=2", "--ntasks-per-node=8", "--gpus-per-node=8", "--nodelist=n1,n2"]
    with pytest.raises(common.LaunchError, match="--nodes"):
        gpu.build_slurm_steps(None, [], "search", "c", "w")


@pytest.mark.parametrize("script, args", [("tpu_vm.py", ["--tpu=t", "--zone=z"]), ("gpu.py", ["--hosts=a,b"])])
def test_unknown_job_is_refused(script, args):
    r, lines = dry_run(script, *args, "--job=topk5", "--config=c", "--workdir=w")
    assert r.returncode != 0 and lines == []
    assert "unknown job 'topk5'" in r.stderr
    assert "visualize, search, topk, occlusion, invariance, correspondence, evolution" in r.stderr


def test_execute_runs_steps_in_order_and_names_failed_hosts(tmp_path, capsys):
    log = tmp_path / "log"
    py = [sys.executable, "-c"]
    append = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))"
    steps = [[common.Command("h0", py + [append, str(log), "setup"])],
             [common.Command(f"h{i}", py + [append, str(log), f"job{i}"]) for i in range(3)]]
    common.execute(steps, dry_run=False)
    lines = log.read_text().split()
    assert lines[0] == "setup" and sorted(lines[1:]) == ["job0", "job1", "job2"]

    common.execute(steps, dry_run=True)
    assert capsys.readouterr().out.splitlines()[0] == shlex.join(steps[0][0].argv)

    fail = [common.Command("gpu0", py + ["pass"]), common.Command("gpu1", py + ["raise SystemExit(3)"])]
    with pytest.raises(common.LaunchError, match=r"failed on gpu1 \(exit status 3\)"):
        common.execute([fail], dry_run=False)
    with pytest.raises(common.LaunchError, match="command for pod failed with exit status 3"):
        common.execute([[common.Command("pod", py + ["raise SystemExit(3)"])]], dry_run=False)

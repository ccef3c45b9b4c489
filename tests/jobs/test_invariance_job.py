"""``jaxvis invariance`` on 2 objects with coarse sweeps: its files, links and the reported finding."""

import json
import os
import re

from configs import invariance_demo
from jaxvis.jobs.invariance_job import run_invariance


def test_small_run(tmp_path):
    c = invariance_demo.get_config()
    c.images, c.max_shift, c.shift_step, c.scale_steps, c.rotation_step = 2, 4, 2, 3, 90.0
    workdir = str(tmp_path / "inv")
    summary = run_invariance(c, workdir)
    curves = json.load(open(os.path.join(workdir, "curves.json")))
    assert curves["translation"]["values"] == [-4, -2, 0, 2, 4] and len(curves["rotation"]["values"]) == 5
    near = [1, 3]  # the +-2 px shifts
    for layer in ("conv1", "fc7"):
        mean = sum(curves["translation"][f"relative_{layer}"][i][j] for i in range(2) for j in near) / 4
        assert summary["finding"][f"{layer}_relative_distance_at_2px"] == mean
    text = open(os.path.join(workdir, "index.html")).read()
    for link in re.findall(r"(?:href|src)='([^']+)'", text):
        assert os.path.isfile(os.path.join(workdir, link)), link

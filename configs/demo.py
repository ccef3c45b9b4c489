"""Every unit of the shipped demo network: the README's main job.

    jaxvis visualize --config=configs/demo.py --workdir=workdirs/vis_demo

All conv layers (192 units) and the class layer fc8 (10 units), Table 1's
row 3 with 150 steps (the demo networks' learning rate is scaled up, so they
converge sooner than CaffeNet's 1000) and 3 restarts per unit, each unit
scored (jaxvis/jobs/unit_scores.py) on 512 generated images of demo-world
seed 2 with ``demo_b`` as the independent judge: about 3.5 minutes on an
idle 2-core CPU (2026-11-30: 200 s on a clean clone; 363 s on a machine
shared with other work, the scores about 60 s of it). The paper's 9 restarts and 1000 steps:
``--config.restarts=9 --config.steps=0`` (about 20x longer); no scores:
``--config.score_images=0``. Re-running the same command resumes; the
gallery is workdirs/vis_demo/index.html.
"""

from jaxvis.jobs.visualize_job import job_config


def get_config():
    return job_config(model="demo", restarts=3, steps=150, grid_scale=2, judge="demo_b", score_images=512)

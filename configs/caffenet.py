"""Every unit of CaffeNet with the paper's settings (Yosinski et al. 2015):
Table 1 row 3, 1000 steps, 9 restarts, all conv layers and fc8.

    jaxvis visualize --config=configs/caffenet.py --workdir=workdirs/vis_caffenet \
        --config.weights=bvlc_reference_caffenet.caffemodel

2,376 units x 9 restarts; without --config.weights the network is randomly
initialised (useful only to time the job).
"""

from jaxvis.jobs.visualize_job import job_config


def get_config():
    return job_config(model="caffenet")  # the paper's settings: row 3, 9 restarts, 1000 steps

"""Every unit of VGG-S (VGG_CNN_S, the network of the deep visualization blog post):
Table 1 row 3, 1000 steps, 9 restarts, all conv layers and fc8.

    jaxvis visualize --config=configs/vgg_s.py --workdir=workdirs/vis_vgg_s \
        --config.weights=VGG_CNN_S.caffemodel

2,888 units (conv5: 512) x 9 restarts; without --config.weights the network is randomly
initialised (useful only to time the job).
"""

from jaxvis.jobs.visualize_job import job_config


def get_config():
    return job_config(model="vgg_s")  # the paper's settings: row 3, 9 restarts, 1000 steps

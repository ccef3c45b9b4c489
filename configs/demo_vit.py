"""The demo world's vision transformer: the main job on ``demo_vit``.

    jaxvis visualize --config=configs/demo_vit.py --workdir=workdirs/vis_demo_vit

Its last block's 128 channels (each the channel at the centre patch token)
and its 10 class units, MaCo images (phase only: the Fourier magnitude of
the demo world's images, the family that works on a ViT's tokens; the pixel
family barely moves a ViT's input, README "Vision transformers") with 3
restarts of 150 steps, each unit scored on 512 generated images with
``demo_b`` as the independent judge, the top-9 pages showing whole images
under each channel's patch map with backprop projections. Every block:
``--config.layers="('blocks.0','blocks.1','blocks.2','blocks.3','head')"``;
the three families side by side: ``--config.presets="('row3','fourier','maco')"``.
Re-running resumes; the gallery is workdirs/vis_demo_vit/index.html.

Until demo_vit's trained weights ship (``SHIPPED`` in jaxvis/models/demo_vit.py),
its default weights are random: train them first (``jaxvis train
--config=configs/demo_train.py:demo_vit --workdir=workdirs/demo_vit``) and
add ``--config.weights=workdirs/demo_vit/model``.
"""

from jaxvis.jobs.visualize_job import job_config


def get_config():
    return job_config(model="demo_vit", layers=("blocks.3", "head"), presets=("maco",), restarts=3, steps=150,
                      grid_scale=2, judge="demo_b", score_images=512)

"""A sparse dictionary of the shipped demo network's conv5, its features
visualized and scored like units, beside conv5's own channels.

    jaxvis dictionary --config=configs/demo_dictionary.py --workdir=workdirs/dictionary_demo

A TopK sparse autoencoder (Gao et al. 2024) of 192 features (4 x conv5's 48
channels), k = 8, learned on every position of conv5's 16 x 16 map of
16,000 generated images (demo-world seed 4000, which no demo network
trained on); then every feature and every conv5 channel through
``jaxvis visualize`` (Table 1's row 3, 120 steps, 2 restarts), scored with
``demo_b`` as the judge on 512 images of seed 2, with top-9 and
deconvolutions: WORKDIR/gallery/index.html. Re-running resumes.
"""

from jaxvis.jobs.dictionary_job import job_config


def get_config():
    return job_config(model="demo", layer="conv5", expansion=4, k=8, steps=1000, images_per_step=16,
                      visualize=dict(layers=("conv5.features", "conv5"), restarts=2, steps=120, grid_scale=2,
                                     judge="demo_b", score_images=512))

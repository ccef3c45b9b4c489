"""A sparse dictionary of a real ImageNet network's middle layer, learned on
a folder of photographs: torchvision's MobileNetV2 (ImageNet-1k weights, as
configs/mobilenet_v2.py), block features/10 (64 channels, a 14 x 14 map at
224 px: 196 samples per photograph).

    python -m examples.sample_photos workdirs/photos        # needs: pip install scikit-image
    jaxvis dictionary --config=configs/mobilenet_v2_dictionary.py --workdir=workdirs/dictionary_mobilenet_v2 \\
        --config.weights=$(python -m examples.wheel_weights mobilenet_v2)

A TopK sparse autoencoder of 256 features (4 x 64), k = 16, on every place
of the folder's photographs, 4 per step, cycled (scikit-image's 16 sample
photographs and their crops: 80 images, each seen 40 times in 800 steps);
the metrics are measured on the last step's photographs, which it trained
on (a folder has no held-out part: give a larger folder of your own as
``--config.source=DIR``). Then every feature through ``jaxvis visualize``
(Lucid's Fourier family, 128 steps, 1 restart), top-9 from the same folder;
no second ImageNet network judges them. Re-running resumes.

Time on this project's 2-core CPU (2026-12-07): the training about 65 s
(fraction of variance explained 0.76, L0 16; 200 steps at learning rate
4e-3: 0.70 in 24 s, at 1e-3: 0.56); the gallery about 45 minutes (256
features x 128 steps at about 85 ms per image-step, configs/mobilenet_v2.py's
figure).
"""

from jaxvis.jobs.dictionary_job import job_config


def get_config():
    return job_config(model="torchvision_mobilenet_v2", weights="mobilenet_v2-b0353104.pth", layer="features/10",
                      source="workdirs/photos", images_per_step=4, steps=800, expansion=4, k=16, eval_images=4,
                      learning_rate=2e-3, warmup_steps=20, dead_after=50_000, save_every=50, log_every=25,
                      visualize=dict(layers=("features/10.features",), presets=("fourier",), restarts=1, steps=128,
                                     grid_scale=1, judge="", score_images=80, score_folder="workdirs/photos"))

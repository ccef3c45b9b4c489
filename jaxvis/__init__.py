"""jaxvis: what the units of a convolutional network detect, at network scale.

    import jaxvis
    net = jaxvis.load_model("demo")                 # the shipped demo network
    x = net.preprocess(rgb_uint8_images)            # [B,H,W,3] uint8 RGB -> float32 NHWC
    blobs = net.blobs(x)                            # {"conv1": [B,64,64,16], ..., "prob": [B,10]}
    res = jaxvis.visualize(net, units=[("fc8", 3)], preset="row3", restarts=3)
    img = jaxvis.project(net, x, layer="conv5", channel=7, mode="deconv")
    jaxvis.save_png(jaxvis.render_projection(img, "normblur")[0], "conv5_7.png")
    mine = jaxvis.from_flax(module, variables, spec=jaxvis.PreprocessSpec(...), class_layer="head")

Everything the README and docs/ use is importable from here; the subpackages
hold the same functions by area (jaxvis.render, jaxvis.backward, ...);
``jaxvis.shapes`` is the generated demo world.
"""

from jaxvis import render
from jaxvis.backward import project, projection_fn
from jaxvis.config_files import load_config
from jaxvis.data import shapes
from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.dictionary import Dictionary, load_dictionary, with_dictionary
from jaxvis.jobs.dictionary_job import run_dictionary
from jaxvis.errors import (
    ArchitectureMismatchError,
    ConfigError,
    InputImageError,
    JaxvisError,
    ModelDefinitionError,
    UnitError,
    UnknownModelError,
    WeightsFileError,
)
from jaxvis.jobs import (
    run_correspondence,
    run_evolution,
    run_invariance,
    run_occlusion,
    run_search,
    run_topk,
    run_visualize,
)
from jaxvis.loading import load_model, save_model
from jaxvis.models import LayerInfo, ModelDef, get_model_def, model_names
from jaxvis.models.frameworks.keras import keras_preprocess
from jaxvis.models.tokens import TokenLayout
from jaxvis.net import Net
from jaxvis.optimize import TABLE1, VisResult, objectives, preset, visualize
from jaxvis.optimize.families import color_statistics
from jaxvis.own_network import from_equinox, from_flax, from_function, from_keras, from_nnx
from jaxvis.render import RENDERINGS, grid, montage, render_projection, save_png, unit_grid

__version__ = "0.1.0"


def live_app(net, topk=None, optimized=None, images=None, max_upload_bytes=None, dictionary=None):
    """The live view of ``net`` as an ASGI app (what ``jaxvis live`` serves
    with uvicorn): mount it in your own server, or drive it in-process with
    Starlette's test client. ``topk``/``optimized``: finished job workdirs;
    ``images``: a folder of images; ``dictionary``: a ``jaxvis dictionary``
    workdir, its features one more layer; see docs/live.md."""
    from jaxvis.live.inputs import MAX_UPLOAD_BYTES
    from jaxvis.live.server import make_app

    return make_app(net, topk=topk, optimized=optimized, images=images,
                    max_upload_bytes=MAX_UPLOAD_BYTES if max_upload_bytes is None else max_upload_bytes,
                    dictionary=dictionary)


__all__ = [
    "ArchitectureMismatchError",
    "ConfigError",
    "Dictionary",
    "InputImageError",
    "JaxvisError",
    "LayerInfo",
    "ModelDef",
    "ModelDefinitionError",
    "Net",
    "PreprocessSpec",
    "RENDERINGS",
    "TABLE1",
    "TokenLayout",
    "UnitError",
    "UnknownModelError",
    "VisResult",
    "WeightsFileError",
    "color_statistics",
    "get_model_def",
    "from_equinox",
    "from_flax",
    "from_function",
    "from_keras",
    "from_nnx",
    "grid",
    "keras_preprocess",
    "live_app",
    "load_config",
    "load_dictionary",
    "load_model",
    "model_names",
    "montage",
    "objectives",
    "preset",
    "project",
    "projection_fn",
    "render",
    "render_projection",
    "run_correspondence",
    "run_dictionary",
    "run_evolution",
    "run_invariance",
    "run_occlusion",
    "run_search",
    "run_topk",
    "run_visualize",
    "save_model",
    "save_png",
    "shapes",
    "unit_grid",
    "visualize",
    "with_dictionary",
]

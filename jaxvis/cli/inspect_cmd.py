"""jaxvis inspect --model=caffenet [--weights=FILE_OR_DIR]
    jaxvis inspect --model=path/model.keras --spec=caffe

Prints the layer table: blob name, output shape, units, receptive field size
and stride in input pixels, parameter count. With --weights, loads and checks
them against the architecture first.
"""

from absl import flags, logging

from jaxvis.cli.errors import user_errors

_MODEL = flags.DEFINE_string("model", None, "registry name (see `jaxvis inspect --list`), a plugin path "
                             "package.module:function, a Keras file path.keras (with --spec), or a jaxvis "
                             "model directory")
_WEIGHTS = flags.DEFINE_string("weights", None, "optional .caffemodel, state dict or jaxvis model directory to check")
_PROTOTXT = flags.DEFINE_string("prototxt", None, "optional deploy.prototxt checked against the architecture")
_SPEC = flags.DEFINE_string("spec", None, "the preprocessing of a Keras .keras model, which the file does not record: "
                            "caffe, tf, torch or a JSON object of PreprocessSpec fields")
_LIST = flags.DEFINE_bool("list", False, "list the known model names and exit")


@user_errors("inspect")
def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"jaxvis inspect: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs a dozen INFO lines per checkpoint read
    from jaxvis.models import get_model_def, model_names
    from jaxvis.models.frameworks.keras import is_keras_file
    from jaxvis.plugin import is_plugin_path
    from jaxvis.models.summary import format_table
    from jaxvis.weights import checkpoint

    if _LIST.value:
        for name in model_names():
            print(f"{name:20s} {get_model_def(name).description}")
        return
    if not _MODEL.value:
        raise SystemExit("jaxvis inspect: --model is required (one of: " + ", ".join(model_names()) + ")")
    model = _MODEL.value
    loaded = checkpoint.is_checkpoint(model) or is_plugin_path(model) or is_keras_file(model)
    if _WEIGHTS.value or _SPEC.value or loaded:
        from jaxvis.loading import load_model

        net = load_model(model, _WEIGHTS.value, prototxt=_PROTOTXT.value, spec=_SPEC.value)
        print(net.summary())
        print(f"weights: {_WEIGHTS.value or model} ({net.num_parameters():,} parameters loaded, shapes match)")
    else:
        print(format_table(get_model_def(model)))

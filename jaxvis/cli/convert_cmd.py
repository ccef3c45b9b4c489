"""jaxvis convert --model=caffenet --weights=bvlc_reference_caffenet.caffemodel \
    [--prototxt=deploy.prototxt] [--mean=imagenet_mean.binaryproto] \
    [--class_names=synset_words.txt] --out=models/caffenet

    jaxvis convert --model=my_package.my_nets:make_net --out=models/mine
    jaxvis convert --model=path/model.keras --spec=caffe --out=models/mine

Converts Caffe (.caffemodel) or torchvision (.pth/.pt/.safetensors/.npz)
weights, or the network a plugin path builds, into a jaxvis model directory, which ``jaxvis.load_model(DIR)`` and
every jaxvis command then load directly.
"""

import os
import time

from absl import flags, logging

from jaxvis.cli.errors import user_errors

_MODEL = flags.DEFINE_string("model", None, "registry name of the architecture, a plugin path "
                             "package.module:function, or a Keras file path.keras (with --spec)", required=True)
_WEIGHTS = flags.DEFINE_string("weights", None, ".caffemodel or PyTorch state dict (a plugin's network may "
                               "bring its own)")
_OUT = flags.DEFINE_string("out", None, "output directory (created or replaced)", required=True)
_PROTOTXT = flags.DEFINE_string("prototxt", None, "deploy.prototxt to check the architecture against")
_MEAN = flags.DEFINE_string("mean", None, "mean image (.binaryproto or .npy) stored with the model")
_SPEC = flags.DEFINE_string("spec", None, "the preprocessing of a Keras .keras model, which the file does not record: "
                            "caffe, tf, torch or a JSON object of PreprocessSpec fields")
_CLASS_NAMES = flags.DEFINE_string("class_names", None, "text file, one class name per line (synset_words.txt)")


@user_errors("convert")
def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"jaxvis convert: unexpected arguments {argv[1:]}")
    from jaxvis.errors import ConfigError
    from jaxvis.loading import load_model, save_model

    if os.path.exists(_OUT.value) and not os.path.isdir(_OUT.value):
        raise ConfigError(f"--out {_OUT.value!r} is a file; expected a directory to write the model to")
    start = time.time()
    logging.info("reading %s", _WEIGHTS.value or _MODEL.value)
    net = load_model(
        _MODEL.value, _WEIGHTS.value, prototxt=_PROTOTXT.value, mean=_MEAN.value, class_names=_CLASS_NAMES.value,
        spec=_SPEC.value,
    )
    logging.info("read %d parameters in %.1fs; writing %s", net.num_parameters(), time.time() - start, _OUT.value)
    save_model(net, _OUT.value, source=_WEIGHTS.value or _MODEL.value)
    print(f"wrote {_OUT.value}: {net.name}, {net.num_parameters():,} parameters ({time.time() - start:.1f}s)")

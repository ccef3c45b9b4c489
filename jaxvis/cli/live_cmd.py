"""jaxvis live --model=demo [--weights=...] [--dictionary=WORKDIR] [--topk=WORKDIR] [--optimized=WORKDIR]
                [--images=FOLDER] [--host=127.0.0.1] [--port=8000]

The live view in the browser: every channel of a layer responding to a
webcam, an image, a video or generated demo-world images; the selected
unit's deconv / guided backprop / backprop; the top-5 predictions; the
unit's top-9 patches (--topk) and optimized images (--optimized), or
optimized now. --dictionary (a `jaxvis dictionary` workdir) adds its
features as one more layer, <layer>.features, the one the page opens on.
Open the printed URL; press h on the page for the keys.
Add ?source=generated|webcam|image|video|files&layer=conv5&unit=12 to the
URL to open it exactly there.
"""

from absl import flags, logging

from jaxvis.cli.errors import user_errors

_MODEL = flags.DEFINE_string("model", "demo", "registry name, plugin path package.module:function, Keras file "
                             "path.keras (with --spec), or a jaxvis model directory")
_WEIGHTS = flags.DEFINE_string("weights", None, "optional .caffemodel, state dict or jaxvis model directory")
_SPEC = flags.DEFINE_string("spec", None, "the preprocessing of a Keras .keras model, which the file does not record: "
                            "caffe, tf, torch or a JSON object of PreprocessSpec fields")
_DICTIONARY = flags.DEFINE_string("dictionary", None, "workdir of a finished `jaxvis dictionary` run on this "
                                  "network: its features are the layer <layer>.features")
_TOPK = flags.DEFINE_string("topk", None, "workdir of a finished `jaxvis topk` run: the unit's top-9 patches")
_OPTIMIZED = flags.DEFINE_string("optimized", None, "workdir of a finished `jaxvis visualize` run: the unit's "
                                 "optimized images")
_IMAGES = flags.DEFINE_string("images", None, "a folder of images on the server, stepped through with e/w")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "address to listen on; anything but 127.0.0.1 exposes the "
                            "server (and the workdirs' files) to the network")
_PORT = flags.DEFINE_integer("port", 8000, "port to listen on")
_MAX_UPLOAD_MB = flags.DEFINE_float("max_upload_mb", 8.0, "largest image a page may send, in megabytes")


@user_errors("live")
def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"jaxvis live: unexpected arguments {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs a dozen INFO lines per checkpoint read
    import uvicorn

    from jaxvis.errors import ConfigError
    from jaxvis.live.server import listening_socket, make_app, server_config
    from jaxvis.live.unit_files import check_workdir
    from jaxvis.loading import load_model

    if not 0 < _MAX_UPLOAD_MB.value <= 1024:
        raise ConfigError(f"--max_upload_mb must be in (0, 1024], got {_MAX_UPLOAD_MB.value}")
    if not 1 <= _PORT.value <= 65535:
        raise ConfigError(f"--port must be in 1..65535, got {_PORT.value}")
    check_workdir(_TOPK.value, "topk")  # before the network loads: a typo fails at once
    check_workdir(_OPTIMIZED.value, "optimized")
    limit = int(_MAX_UPLOAD_MB.value * 1024 * 1024)
    net = load_model(_MODEL.value, _WEIGHTS.value, spec=_SPEC.value)
    app = make_app(net, topk=_TOPK.value, optimized=_OPTIMIZED.value, images=_IMAGES.value, max_upload_bytes=limit,
                   dictionary=_DICTIONARY.value)
    sock = listening_socket(_HOST.value, _PORT.value)  # a port in use fails here, before the URL is printed
    if _HOST.value not in ("127.0.0.1", "localhost", "::1"):
        print(f"jaxvis live: listening on {_HOST.value}, not only this machine: anyone who can reach it sees the "
              "network, the pictures of --topk/--optimized, and can send it images")
    host = f"[{_HOST.value}]" if ":" in _HOST.value else _HOST.value
    print(f"jaxvis live: {net.name} at http://{host}:{_PORT.value}/  (press h on the page for the keys; "
          "Ctrl-C stops)", flush=True)
    uvicorn.Server(server_config(app, _HOST.value, _PORT.value, limit)).run(sockets=[sock])

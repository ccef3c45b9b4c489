"""One client's view of the network: its selection, its current image, and
the messages it is sent. Pure functions of (network, state, message), so the
WebSocket server (server.py) only moves bytes and the tests can call them.

The protocol, JSON text messages unless said otherwise:

client -> server
    (binary)                           an encoded image: a webcam or video frame, or a file
    {"type": "select", "layer", "unit", "at": [y, x] or null, "token": k or null, "mode", "rendering"}
                                       any subset; ``token``: a token blob's prefix token (not with ``at``)
    {"type": "generated", "index": n}  the demo world's held-out image n
    {"type": "file", "index": n}       image n of the server's --images folder (wraps around)
    {"type": "optimize"}               optimize the selected unit now, streamed
    {"type": "stop"}                   stop that optimization
server -> client
    {"type": "info", ...}              the network, its blobs, what the server offers (on connect)
    {"type": "selection", ...}         the selection now in force and the unit's saved pictures
    {"type": "frame", ...}             tiles, maxima, predictions, the backward view, timings; a token
                                       blob's tiles are its patch maps, ``prefix`` [C, p] its prefix tokens
                                       (``compiled``: this frame compiled the layer and mode)
    {"type": "optimized", ...}         an optimization's current image (``done`` at the end); ``blob``:
                                       what runs (a ReLU's unit runs on the blob it rectifies)
    {"type": "error", "message"}       what was refused and why; the session goes on

Arrays travel as base64 of their raw uint8 bytes with their shape.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import numpy as np

from jaxvis.errors import ConfigError, UnitError
from jaxvis.live import unit_files
from jaxvis.live.frame import Selection, check_selection, run_frame
from jaxvis.live.inputs import InputImage, decode_image
from jaxvis.ops.backward import RELU_MODES
from jaxvis.render.projections import RENDERINGS

MESSAGE_TYPES = ("select", "generated", "file", "optimize", "stop")
SELECT_FIELDS = ("layer", "unit", "at", "token", "mode", "rendering")


def packed(array: np.ndarray) -> dict:
    """uint8 array -> {"shape": [...], "data": base64 of its bytes}."""
    array = np.ascontiguousarray(array, np.uint8)
    return {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode("ascii")}


def unpacked(message: dict) -> np.ndarray:
    """The inverse of ``packed`` (what the page and the tests do)."""
    return np.frombuffer(base64.b64decode(message["data"]), np.uint8).reshape(message["shape"])


def default_layer(net) -> str:
    """The layer a page opens on: a dictionary's features (kind "features",
    ``jaxvis.with_dictionary``), as the jobs' default layers; else the last
    convolution's blob (conv5 in the zoo), or the ReLU that rectifies it
    (``rectified_blob``): the maps the toolbox shows (its Caffe ReLUs work in
    place); else the first blob."""
    features = net.feature_layers()
    if features:
        return features[0]
    names = net.layer_names
    convs = [info.name for info in net.table if info.kind == "conv"]
    if not convs:
        return names[0]
    after = names.index(convs[-1]) + 1
    if after < len(names) and rectified_blob(net, names[after]) == convs[-1]:
        return names[after]
    return convs[-1]


def class_name(net, index: int) -> str:
    names = net.spec.class_names
    return names[index] if names and index < len(names) else f"class {index}"


def info_message(net, roots: dict, folder_size: int, max_upload: int) -> dict:
    return {
        "type": "info",
        "model": net.name,
        "input_size": list(net.definition.input_shape[:2]),
        "layers": [{"name": i.name, "kind": i.kind, "shape": list(i.shape), "channels": i.channels,
                    "spatial": i.spatial, "tokens": token_fields(i.tokens)} for i in net.table],
        "default_layer": default_layer(net),
        "class_names": list(net.spec.class_names or ()),
        "modes": list(RELU_MODES),
        "renderings": list(RENDERINGS),
        "generated": True,  # the demo world's images are always available
        "files": folder_size,
        "topk": roots.get("topk") is not None,
        "optimized": roots.get("optimized") is not None,
        "max_upload_bytes": max_upload,
    }


def token_fields(layout) -> dict | None:
    """A token blob's layout as the page reads it: {"prefix": p, "grid": [h, w]}; None for maps and vectors."""
    return None if layout is None else {"prefix": layout.prefix, "grid": list(layout.grid)}


def parse(text: str) -> dict:
    """A text message as a dict with a known ``type``, or a ConfigError saying what was expected."""
    expected = f"a JSON object with \"type\" one of {', '.join(MESSAGE_TYPES)}"
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ConfigError(f"a message that is not JSON ({len(text)} characters); expected {expected}") from None
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        got = message.get("type") if isinstance(message, dict) else type(message).__name__
        raise ConfigError(f"a message of type {got!r}; expected {expected}")
    return message


def _integer(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnitError(f"{what} must be an integer, got {value!r}")
    return value


def selected(net, current: Selection, message: dict) -> Selection:
    """``current`` changed by a select message, checked against the network:
    a new layer keeps the unit when it exists there (else 0) and drops ``at``
    and ``token``; a location drops the prefix token and a prefix token the location."""
    unknown = set(message) - {"type", *SELECT_FIELDS}
    if unknown:
        raise ConfigError(f"select message has unknown field(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(SELECT_FIELDS)}")
    changes = {k: message[k] for k in SELECT_FIELDS if k in message}
    for key in ("layer", "mode", "rendering"):
        if key in changes and not isinstance(changes[key], str):
            raise ConfigError(f"select: {key} must be a string, got {changes[key]!r}")
    if "layer" in changes and changes["layer"] != current.layer:
        info = net.layer(changes["layer"])  # UnitError listing the layers
        changes.setdefault("unit", current.unit if current.unit < info.channels else 0)
        changes.setdefault("at", None)
        changes.setdefault("token", None)
    if changes.get("at") is not None:
        changes.setdefault("token", None)
    if changes.get("token") is not None:
        changes.setdefault("at", None)
        changes["token"] = _integer(changes["token"], "select: token")
    if "unit" in changes:
        changes["unit"] = _integer(changes["unit"], "select: unit")
    if changes.get("at") is not None:
        at = changes["at"]
        if not isinstance(at, (list, tuple)) or len(at) != 2:
            raise UnitError(f"select: at must be [y, x] or null, got {at!r}")
        changes["at"] = (_integer(at[0], "select: at y"), _integer(at[1], "select: at x"))
    new = dataclasses.replace(current, **changes)
    check_selection(net, new)
    return new


def selection_message(net, roots: dict, selection: Selection) -> dict:
    """The selection in force and the unit's saved pictures: the selected
    blob's, or those of the blob it rectifies (``rectified_blob``); ``views["layer"]``
    names the blob they belong to."""
    views = unit_files.unit_views(roots, selection.layer, selection.unit)
    views["layer"] = selection.layer
    rectified = rectified_blob(net, selection.layer)
    if rectified and not (views["topk"] or views["optimized"]):
        found = unit_files.unit_views(roots, rectified, selection.unit)
        if found["topk"] or found["optimized"]:
            views = {**found, "layer": rectified}
    return {"type": "selection", **selection_fields(selection), "views": views}


def rectified_blob(net, layer: str) -> str | None:
    """For a ReLU layer of a sequential network (the zoo: its input is the
    layer before it), the blob it rectifies (conv5 for relu5); else None:
    in a traced network a ReLU's input is not known from its position. The
    jobs save pictures for conv blobs; a ReLU keeps their units' strongest
    images and optimized images, so the page shows those."""
    if net.definition.layers is None:
        return None
    names = net.layer_names
    i = names.index(layer)
    return names[i - 1] if i > 0 and net.table[i].kind == "relu" else None


def selection_fields(selection: Selection) -> dict:
    return {"layer": selection.layer, "unit": selection.unit,
            "at": list(selection.at) if selection.at else None, "token": selection.token, "mode": selection.mode,
            "rendering": selection.rendering}


def image_from_bytes(data: bytes, limit: int) -> InputImage:
    return InputImage(decode_image(data, limit), "sent by the page")


def frame_message(net, image: InputImage, selection: Selection, seq: int) -> dict:
    """The network's response to ``image`` under ``selection``, as sent to the page."""
    start = time.perf_counter()
    x = net.preprocess(image.rgb)
    prepared = time.perf_counter()
    result = run_frame(net, x, selection)
    computed = time.perf_counter()
    message = {
        "type": "frame", "seq": seq, **selection_fields(selection),
        "name": image.name, "label": image.label, "index": image.index,
        "input": packed(net.deprocess(x)[0]),
        "tiles": packed(result.tiles),
        "prefix": None if result.prefix is None else packed(result.prefix),
        "prefix_values": None if result.prefix_values is None else result.prefix_values.tolist(),
        "maxima": [float(v) for v in result.maxima],
        "predictions": [{"index": i, "name": class_name(net, i), "p": p} for i, p in result.predictions],
        "backward": None if result.backward_image is None else packed(result.backward_image),
        "backward_error": result.backward_error,
        "timing": {"preprocess_ms": 1000 * (prepared - start), "forward_ms": result.forward_ms,
                   "backward_ms": result.backward_ms,
                   "render_ms": 1000 * (computed - prepared) - result.forward_ms - result.backward_ms,
                   "compiled": result.compiled},
    }
    return message

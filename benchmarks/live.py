"""``jaxvis live`` frames per second, end to end: a WebSocket client (the
``websockets`` library) sends encoded frames one at a time to a real uvicorn
server running ``jaxvis.live.server.make_app`` in a background thread and
waits for each "frame" reply (forward, the layer's tiles, top-5, the deconv
view of the selected unit seeded with its own activation, raw rendering).
Beside it, in the same run and with the same weights, PyTorch eager float32 +
Captum do the same per-frame work in-process (no WebSocket): decode the same
bytes with Pillow, preprocess, forward the whole network, min-max tiles of
the layer, softmax top-5, Captum's Deconvolution of the whole channel seeded
with its own activation, raw rendering.

    python benchmarks/live.py [--models demo,caffenet] [--frames 100] [--seconds 10] [--layer conv5]

jaxvis runs twice, the client offering permessage-deflate as browsers do:
served as ``jaxvis live`` serves it (``server_config``: no compression), and
with uvicorn's default, which accepts it (the reply, ~0.5 MB of base64 JSON
for caffenet, is then compressed and decompressed per frame).

Frames are what the page sends (jaxvis/live/static/live.js): a square picture
at the network's input size, PNG up to 128 px, else JPEG at quality 0.92; here
demo-world pictures (jaxvis.data.shapes) drawn at that size. Each side runs
``--warmup`` untimed frames (jaxvis compiles there), then ``--frames`` frames
or as many as fit in ``--seconds``. demo runs its shipped weights (copied into
a PyTorch network of the same architecture), caffenet the random weights of
tests/reference/torch_nets.py (loaded into jaxvis). Targets are printed for
information, never as an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import threading
import time
import warnings

import captum
import jax
import numpy as np
import starlette
import torch
import uvicorn
import websockets
from captum.attr import Deconvolution
from PIL import Image
from websockets.sync.client import connect

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from timing import cpu_seconds  # noqa: E402  (benchmarks/timing.py)
from jaxvis.data import shapes  # noqa: E402
from jaxvis.live.inputs import HELD_OUT_SEED  # noqa: E402
from jaxvis.live.server import listening_socket, make_app, server_config  # noqa: E402
from jaxvis.live.session import unpacked  # noqa: E402
from jaxvis.weights.layout import params_from_source_layout  # noqa: E402
from tests.backward.captum_reference import OwnActivation, Until  # noqa: E402
from tests.reference import torch_nets  # noqa: E402

TARGETS = {"demo": 25.0, "caffenet": 5.0}  # frames/s asked for on this CPU
DISTINCT_FRAMES = 8  # pictures cycled through, like a (slow) moving scene
UNIT, MODE, RENDERING = 0, "deconv", "raw"  # the page's default selection (the layer is --layer)


# --- the two networks, same weights -------------------------------------------------------------

class DemoReference(torch.nn.Module):
    """The demo architecture (jaxvis/models/demo.py) in plain PyTorch, with
    torch_nets' ``plan`` convention: [(layer, blob or None, module)]."""

    def __init__(self, widths, hidden, classes, flat):
        super().__init__()
        c1, c2, c3, c4, c5 = widths

        def pool():  # Caffe's ceil rule
            return torch.nn.MaxPool2d(3, 2, ceil_mode=True)

        def lrn():  # Caffe ACROSS_CHANNELS: size 5, alpha 1e-4, beta 0.75, k 1
            return torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0)

        layers = [
            ("conv1", torch.nn.Conv2d(3, c1, 5, padding=2)), ("relu1", torch.nn.ReLU()),
            ("pool1", pool()), ("norm1", lrn()),
            ("conv2", torch.nn.Conv2d(c1, c2, 5, padding=2)), ("relu2", torch.nn.ReLU()),
            ("pool2", pool()), ("norm2", lrn()),
            ("conv3", torch.nn.Conv2d(c2, c3, 3, padding=1)), ("relu3", torch.nn.ReLU()),
            ("conv4", torch.nn.Conv2d(c3, c4, 3, padding=1)), ("relu4", torch.nn.ReLU()),
            ("conv5", torch.nn.Conv2d(c4, c5, 3, padding=1)), ("relu5", torch.nn.ReLU()),
            ("pool5", pool()),
            ("fc6", torch.nn.Linear(flat, hidden)), ("relu6", torch.nn.ReLU()),
            ("fc7", torch.nn.Linear(hidden, hidden)), ("relu7", torch.nn.ReLU()),
            ("fc8", torch.nn.Linear(hidden, classes)), ("prob", torch.nn.Softmax(dim=1)),
        ]
        self.plan = []
        for name, module in layers:
            self.add_module(name, module)
            self.plan.append((name, name, module))


def torch_layout(net) -> dict[str, dict[str, np.ndarray]]:
    """jaxvis params -> {layer: {"weight", "bias"}} in PyTorch's layout (the
    inverse of params_from_source_layout: HWIO -> OIHW; fc (in, out) -> (out, in)
    with a spatial input's rows from (H, W, C) to (C, H, W) order)."""
    shapes_in = {info.name: info.shape for info in net.table}
    names = net.layer_names
    out = {}
    for layer, p in net.params.items():
        kernel, bias = np.array(p["kernel"]), np.array(p["bias"])
        if kernel.ndim == 4:
            weight = kernel.transpose(3, 2, 0, 1)
        else:
            weight = kernel.T
            prev = shapes_in[names[names.index(layer) - 1]]
            if len(prev) == 3:
                h, w, c = prev
                weight = weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(weight.shape[0], -1)
        out[layer] = {"weight": np.ascontiguousarray(weight), "bias": bias}
    return out


def demo_pair():
    """(jaxvis demo with its shipped weights, the PyTorch demo with the same weights)."""
    net = jaxvis.load_model("demo")
    arrays = torch_layout(net)
    back = params_from_source_layout(net.definition, {k: [v["weight"], v["bias"]] for k, v in arrays.items()}, "torch")
    for layer, p in net.params.items():  # the conversion is exact, both ways
        for key in ("kernel", "bias"):
            np.testing.assert_array_equal(back[layer][key], np.asarray(p[key]))
    widths = tuple(arrays[f"conv{i}"]["weight"].shape[0] for i in range(1, 6))
    hidden, flat = arrays["fc6"]["weight"].shape
    model = DemoReference(widths, hidden, arrays["fc8"]["weight"].shape[0], flat)
    with torch.no_grad():
        for layer, p in arrays.items():
            getattr(model, layer).weight.copy_(torch.from_numpy(p["weight"]))
            getattr(model, layer).bias.copy_(torch.from_numpy(p["bias"]))
    return net, model.float().eval()


def caffenet_pair():
    """(jaxvis caffenet, tests/reference/torch_nets.py's caffenet), the latter's random weights in both."""
    model = torch_nets.build("caffenet", seed=0)
    definition = jaxvis.get_model_def("caffenet")
    arrays = {k: [v["weight"], v["bias"]] for k, v in torch_nets.param_arrays(model).items()}
    params = jax.device_put(params_from_source_layout(definition, arrays, "torch"))  # as load_model does
    return jaxvis.Net(definition, params, definition.spec), model


PAIRS = {"demo": demo_pair, "caffenet": caffenet_pair}


# --- the frames a page sends ----------------------------------------------------------------------

def encoded_frames(net, count: int) -> tuple[list[bytes], str]:
    """``count`` demo-world pictures at the input size, encoded as live.js does; and a description."""
    size = max(net.spec.input_size)
    fmt = "PNG" if size <= 128 else "JPEG"
    frames = []
    for i in range(count):
        buffer = io.BytesIO()
        options = {"quality": 92} if fmt == "JPEG" else {}
        Image.fromarray(shapes.make_sample(HELD_OUT_SEED, i, size).image).save(buffer, fmt, **options)
        frames.append(buffer.getvalue())
    mean_kb = sum(map(len, frames)) / len(frames) / 1024
    return frames, f"{size}x{size} {fmt} {mean_kb:.0f} KB"


@dataclasses.dataclass
class Run:
    """One side's timed frames."""

    seconds: float  # wall time of the timed frames, all together
    results: list  # what each timed step returned
    steps: list[float]  # seconds of each timed step

    @property
    def fps(self) -> float:
        return len(self.results) / self.seconds


def timed(step, frames: list[bytes], warmup: int, count: int, seconds: float) -> Run:
    """Calls ``step(frame)`` ``warmup`` times untimed, then ``count`` times or
    until ``seconds`` pass, cycling through ``frames``."""
    for i in range(warmup):
        step(frames[i % len(frames)])
    results, steps = [], []
    start = time.perf_counter()
    while len(results) < count and (not results or time.perf_counter() - start < seconds):
        t = time.perf_counter()
        results.append(step(frames[len(results) % len(frames)]))
        steps.append(time.perf_counter() - t)
    return Run(time.perf_counter() - start, results, steps)


# --- jaxvis: a WebSocket client and a uvicorn server ---------------------------------------------

@contextlib.contextmanager
def serving(net, deflate: bool):
    """``ws://`` URL of ``make_app(net)`` served by uvicorn in a background thread,
    configured as ``jaxvis live`` does, permessage-deflate accepted when ``deflate``."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(make_app(net), "127.0.0.1", port, ws_per_message_deflate=deflate))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the uvicorn server did not start")
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def receive(ws, kind: str) -> dict:
    """The next message of type ``kind``; an "error" message raises."""
    while True:
        message = json.loads(ws.recv())
        if message["type"] == "error":
            raise RuntimeError(f"the server refused: {message['message']}")
        if message["type"] == kind:
            return message


def jaxvis_run(net, layer: str, frames: list[bytes], deflate: bool, args):
    """The timed round trips (results: the "frame" replies) over a real WebSocket;
    ``deflate``: whether the server accepts the permessage-deflate the client offers."""
    with serving(net, deflate) as url, connect(url, max_size=None, compression="deflate") as ws:
        receive(ws, "info")
        receive(ws, "selection")
        ws.send(json.dumps({"type": "select", "layer": layer, "unit": UNIT, "mode": MODE, "rendering": RENDERING}))
        receive(ws, "selection")  # no image yet: no frame follows

        def round_trip(data: bytes) -> dict:
            ws.send(data)
            reply = receive(ws, "frame")
            timing = reply["timing"]  # the server's work: all but the transport
            timing["work_ms"] = sum(timing[k] for k in ("preprocess_ms", "forward_ms", "backward_ms", "render_ms"))
            return reply

        return timed(round_trip, frames, args.warmup, args.frames, args.seconds)


# --- the reference: PyTorch + Captum, in-process ------------------------------------------------

class Reference:
    """The per-frame work of the live view, done by PyTorch eager float32 and Captum."""

    def __init__(self, model, spec, layer: str):
        self.model, self.spec, self.layer = model, spec, layer
        cut = Until(model, layer, [(blob, module) for _, blob, module in model.plan])
        self.deconv = Deconvolution(OwnActivation(cut, UNIT))  # whole channel, seeded by its activation

    def input(self, data: bytes) -> torch.Tensor:
        """Encoded bytes -> [1, 3, H, W]: Pillow decode, resize (warp) and centre crop when the
        size differs, channel order, scale, mean, std."""
        with Image.open(io.BytesIO(data)) as im:
            image = im.convert("RGB")
        th, tw = self.spec.input_size
        if (image.height, image.width) != (th, tw):
            side = self.spec.resize or max(th, tw)
            image = image.resize((max(side, tw), max(side, th)), Image.Resampling.BILINEAR)
            left, top = (image.width - tw) // 2, (image.height - th) // 2
            image = image.crop((left, top, left + tw, top + th))
        x = np.asarray(image, np.float32)
        x = x[..., ::-1] if self.spec.channel_order == "BGR" else x
        x = (x * np.float32(self.spec.scale) - self.spec.mean_array()) / np.asarray(self.spec.std, np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole network (no autograd): (the layer's blob [1, C, h, w], the class probabilities [1, K])."""
        blob = None
        with torch.no_grad():
            for _, name, module in self.model.plan:
                if isinstance(module, torch.nn.Linear) and x.dim() == 4:
                    x = torch.flatten(x, 1)
                x = module(x)
                blob = x if name == self.layer else blob
        return blob, x

    def __call__(self, data: bytes) -> dict:
        start = time.perf_counter()
        x = self.input(data)
        forward_start = time.perf_counter()
        blob, probs = self.forward(x)
        lo, hi = blob.amin(), blob.amax()
        tiles = torch.round(255 * (blob[0] - lo) / torch.where(hi > lo, hi - lo, 1)).to(torch.uint8).numpy()
        maxima = blob[0].amax(dim=(1, 2)).numpy()
        p, index = torch.topk(probs[0], 5)
        backward_start = time.perf_counter()
        projection = self.deconv.attribute(x)[0].detach().numpy().transpose(1, 2, 0)
        backward_end = time.perf_counter()
        scale = np.abs(projection).max()
        image = np.round(127.5 + 127.5 * projection / (scale if scale > 0 else 1.0)).astype(np.uint8)
        image = image[..., ::-1] if self.spec.channel_order == "BGR" else image
        timing = {"forward_ms": 1000 * (backward_start - forward_start),
                  "backward_ms": 1000 * (backward_end - backward_start),
                  "work_ms": 1000 * (time.perf_counter() - start)}
        return {"tiles": tiles, "maxima": maxima, "top": index.tolist(), "p": p.tolist(), "backward": image,
                "timing": timing}


# --- report -----------------------------------------------------------------------------------

def others_line(start: tuple[float | None, float], wall: float) -> str:
    """What other processes took of the CPUs since ``start`` (they slow both sides, torch's most)."""
    busy, own = cpu_seconds()
    if busy is None or start[0] is None:
        return "CPU used by other processes: unknown (no /proc/stat)"
    others = max(0.0, (busy - start[0]) - (own - start[1]))
    return f"CPU used by other processes meanwhile: {others:.1f} s of {os.cpu_count() * wall:.0f} CPU-seconds"


def agreement(reply: dict, ours: dict) -> str:
    """How close the two sides' results for the same frame are (uint8 levels, top-5 classes)."""
    tiles = np.abs(unpacked(reply["tiles"]).astype(int) - ours["tiles"])
    back = np.abs(unpacked(reply["backward"]).astype(int) - ours["backward"])
    same_top = [p["index"] for p in reply["predictions"]] == ours["top"]
    return (f"top-5 {'equal' if same_top else 'DIFFERENT'}, tiles |diff| max {tiles.max()} mean {tiles.mean():.3f}, "
            f"backward view |diff| max {back.max()} mean {back.mean():.3f} (uint8 levels)")


def mean_ms(results: list[dict], key: str) -> float:
    return float(np.mean([r["timing"][key] for r in results]))


def row(name: str, side: str, run: Run) -> None:
    """Prints one side's line."""
    results = run.results
    print(f"{name:9s} {side:36s} {run.fps:8.1f} ({len(results):3d}) {mean_ms(results, 'forward_ms'):7.1f} "
          f"{mean_ms(results, 'backward_ms'):7.1f} {mean_ms(results, 'work_ms'):8.1f} {1000 / run.fps:9.1f} "
          f"{1000 * np.median(run.steps):9.1f}")


def bench(name: str, args) -> None:
    start, wall = cpu_seconds(), time.perf_counter()
    net, model = PAIRS[name]()
    frames, described = encoded_frames(net, DISTINCT_FRAMES)
    served = jaxvis_run(net, args.layer, frames, False, args)
    deflate = jaxvis_run(net, args.layer, frames, True, args)
    reference = timed(Reference(model, net.spec, args.layer), frames, args.warmup, args.frames, args.seconds)
    print(f"{name} ({described} frames):")
    row(name, "jaxvis, WebSocket, as served", served)
    row(name, "jaxvis, WebSocket, permessage-deflate", deflate)
    row(name, "PyTorch + Captum, in-process", reference)
    fps, fps_deflate, ref_fps = served.fps, deflate.fps, reference.fps
    target = TARGETS.get(name)
    verdict = "met" if target is not None and fps >= target else "NOT met"
    met = "" if target is None else f"; target >= {target:g} frames/s (as served): {verdict}"
    print(f"{name:9s} jaxvis / reference: {fps / ref_fps:.2f} (as served), {fps_deflate / ref_fps:.2f} (deflate)"
          + met)
    print(f"{name:9s} same frame, both sides: {agreement(served.results[0], reference.results[0])}")
    print(f"{name:9s} {others_line(start, time.perf_counter() - wall)}")


def main():
    warnings.filterwarnings("ignore", module="captum")
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="demo,caffenet")
    ap.add_argument("--frames", type=int, default=100, help="timed frames per side, at most")
    ap.add_argument("--seconds", type=float, default=10.0, help="time per side, at most (a frame started counts)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layer", default="conv5")
    args = ap.parse_args()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), {os.cpu_count()} CPUs; "
          f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"captum {captum.__version__}, uvicorn {uvicorn.__version__}, websockets {websockets.__version__}, "
          f"starlette {starlette.__version__}")
    print(f"selection: {args.layer} unit {UNIT}, {MODE}, {RENDERING}. jaxvis: end to end, a websockets client and a "
          "uvicorn server (make_app) in this process, one frame in flight. Reference: PyTorch eager float32 + "
          "Captum, in-process, no WebSocket.")
    print("fwd: jaxvis the forward stage (network, tiles, probabilities, the pullback's forward); reference the "
          "whole network, tiles and top-5. bwd: jaxvis the backward stage; reference Captum's attribute (its own "
          "forward to the layer and the backward). work: all of one frame's computing. Means over the (n) timed "
          "frames; frame ms: 1000 / frames/s; median ms: the median frame.")
    print(f"{'model':9s} {'side':36s} {'frames/s':>8s} {'(n)':5s} {'fwd ms':>7s} {'bwd ms':>7s} {'work ms':>8s} "
          f"{'frame ms':>9s} {'median ms':>9s}")
    for name in args.models.split(","):
        bench(name, args)


if __name__ == "__main__":
    main()

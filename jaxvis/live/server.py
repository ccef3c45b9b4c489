"""``jaxvis live``'s server: a Starlette app, served by uvicorn.

    GET  /                         the page (jaxvis/live/static/index.html)
    GET  /static/<file>            its script and style
    GET  /files/topk/<path>        a file of the --topk workdir (only inside it)
    GET  /files/optimized/<path>   a file of the --optimized workdir (only inside it)
    WS   /ws                       one session per connection (protocol: session.py)

With ``dictionary`` (``--dictionary``, a ``jaxvis dictionary`` workdir) the
network has its features' blob ``<layer>.features``: a layer like any other,
the one the page opens on.

Per connection: the receive loop only records the newest frame and wakes a
worker; the worker computes in a thread (never on the event loop) and
sends the result. One frame is in flight per client and the newest waiting
frame replaces older ones, so nothing queues up behind a slow network. A
client that disconnects or sends garbage ends or troubles only its own
session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from jaxvis.dictionary.features import with_workdir_dictionary
from jaxvis.dictionary.store import DictionaryError
from jaxvis.errors import ConfigError, JaxvisError
from jaxvis.live import session as S
from jaxvis.live import unit_files
from jaxvis.live.frame import Selection
from jaxvis.live.inputs import MAX_UPLOAD_BYTES, Folder, Generated
from jaxvis.live.optimize_now import optimize_unit

log = logging.getLogger("jaxvis")
STATIC = os.path.join(os.path.dirname(__file__), "static")


class _Client:
    """One connection's state."""

    def __init__(self, websocket: WebSocket, selection: Selection):
        self.websocket = websocket
        self.selection = selection
        self.image = None  # the InputImage last shown
        self.pending = None  # the newest thing to compute: bytes, an InputImage, or "again"
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.seq = 0
        self.stop_optimizing = threading.Event()
        self.closed = False

    async def send(self, message: dict) -> None:
        if self.closed:
            return
        async with self.lock:
            try:
                await self.websocket.send_json(message)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) for uvicorn (``Server.run(sockets=[...])``),
    or a ConfigError naming the address when it cannot be had (in use, not
    this machine's); port 0 takes a free port (``getsockname()`` tells which)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host") \
            from None
    return sock


def server_config(app, host: str, port: int, max_upload_bytes: int = MAX_UPLOAD_BYTES, **overrides):
    """The uvicorn config ``jaxvis live`` serves ``app`` with: quiet, WebSocket
    messages up to the upload limit, and no permessage-deflate (a CaffeNet
    frame's reply is about 0.5 MB of base64 JSON; compressing it costs about
    a quarter of the frame rate, benchmarks/live.py)."""
    import uvicorn

    settings = dict(host=host, port=port, log_level="warning", ws_max_size=max_upload_bytes + 65536,
                    ws_per_message_deflate=False)
    return uvicorn.Config(app, **{**settings, **overrides})


def with_dictionary_workdir(net, dictionary: str | None):
    """``net`` with the features of the dictionary in ``dictionary`` (a ``jaxvis
    dictionary`` workdir: the blob ``<layer>.features``, ``jaxvis.with_dictionary``),
    or ``net`` itself for None or ""; a DictionaryError naming ``--dictionary``
    when it is missing or was learned on another network."""
    try:
        return with_workdir_dictionary(net, dictionary)
    except DictionaryError as e:
        raise DictionaryError(f"--dictionary: {e}") from None


def make_app(net, topk: str | None = None, optimized: str | None = None, images: str | None = None,
             max_upload_bytes: int = MAX_UPLOAD_BYTES, dictionary: str | None = None) -> Starlette:
    """The live view of ``net``; ``topk``/``optimized``: finished job workdirs; ``images``: a folder;
    ``max_upload_bytes``: the largest image a client may send; ``dictionary``: a ``jaxvis dictionary``
    workdir, whose features are one more layer (``with_dictionary_workdir``)."""
    if isinstance(max_upload_bytes, bool) or not isinstance(max_upload_bytes, int) or max_upload_bytes < 1:
        raise ConfigError(f"max_upload_bytes must be an integer >= 1, got {max_upload_bytes!r}")
    net = with_dictionary_workdir(net, dictionary)
    roots = {"topk": unit_files.check_workdir(topk, "topk"),
             "optimized": unit_files.check_workdir(optimized, "optimized")}
    folder = Folder(images, net) if images else None
    generated = Generated()
    info = S.info_message(net, roots, len(folder) if folder else 0, max_upload_bytes)

    async def page(request):
        return FileResponse(os.path.join(STATIC, "index.html"))

    async def workdir_file(request):
        root = roots.get(request.path_params["root"])
        path = unit_files.resolve(root, request.path_params["path"]) if root else None
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path)

    async def info_json(request):
        return JSONResponse(info)

    def compute(client: _Client, item, selection: Selection, seq: int) -> dict:
        if isinstance(item, (bytes, bytearray)):
            image = S.image_from_bytes(bytes(item), max_upload_bytes)
        else:
            image = item
        message = S.frame_message(net, image, selection, seq)
        client.image = image
        return message

    async def worker(client: _Client) -> None:
        while not client.closed:
            await client.wake.wait()
            client.wake.clear()
            item, client.pending = client.pending, None
            item = client.image if item == "again" else item
            if item is None:
                continue
            client.seq += 1
            try:
                message = await asyncio.to_thread(compute, client, item, client.selection, client.seq)
            except JaxvisError as e:
                await client.send({"type": "error", "message": str(e)})
                continue
            except Exception as e:  # an XLA runtime error (out of memory), a bug: tell the page, go on
                log.exception("jaxvis live: frame %d failed", client.seq)
                await client.send({"type": "error", "message": f"the frame could not be computed: "
                                   f"{e.__class__.__name__}: {e}"})
                continue
            await client.send(message)

    def optimize(client: _Client, loop) -> None:
        client.stop_optimizing.set()  # a running optimization stops at its next step
        stop = client.stop_optimizing = threading.Event()
        sel = client.selection
        # A ReLU's unit is optimized on the blob it rectifies: the same unit, with a
        # gradient where the ReLU is off (as the toolbox optimized Caffe's conv5).
        blob = S.rectified_blob(net, sel.layer) or sel.layer

        def emit(step, steps, image, done):
            message = {"type": "optimized", "layer": sel.layer, "blob": blob, "unit": sel.unit, "step": step,
                       "steps": steps, "done": done, "image": S.packed(image)}
            asyncio.run_coroutine_threadsafe(client.send(message), loop)

        def run():
            try:
                optimize_unit(net, blob, sel.unit, sel.at, emit, stop, token=sel.token)
            except Exception as e:  # a JaxvisError, or an XLA runtime error: tell the page
                if not isinstance(e, JaxvisError):
                    log.exception("jaxvis live: optimizing %s #%d failed", blob, sel.unit)
                message = str(e) if isinstance(e, JaxvisError) else f"optimizing failed: {e.__class__.__name__}: {e}"
                asyncio.run_coroutine_threadsafe(client.send({"type": "error", "message": message}), loop)

        threading.Thread(target=run, name="jaxvis-optimize", daemon=True).start()

    async def handle(client: _Client, text: str) -> None:
        message = S.parse(text)
        kind = message["type"]
        if kind == "select":
            before = client.selection
            client.selection = S.selected(net, before, message)
            if (before.layer, before.unit) != (client.selection.layer, client.selection.unit):
                client.stop_optimizing.set()
            await client.send(S.selection_message(net, roots, client.selection))
            client.pending = client.pending or "again"
        elif kind == "generated":
            client.pending = generated.get(message.get("index"))
        elif kind == "file":
            if folder is None:
                raise ConfigError("this server has no image folder; start it with --images=FOLDER")
            client.pending = await asyncio.to_thread(folder.get, message.get("index"))
        elif kind == "optimize":
            optimize(client, asyncio.get_running_loop())
            return
        elif kind == "stop":
            client.stop_optimizing.set()
            return
        client.wake.set()

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        client = _Client(websocket, Selection(info["default_layer"]))
        await client.send(info)
        await client.send(S.selection_message(net, roots, client.selection))
        task = asyncio.create_task(worker(client))
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                if received.get("bytes") is not None:
                    client.pending = received["bytes"]  # the newest frame wins
                    client.wake.set()
                elif received.get("text") is not None:
                    try:
                        await handle(client, received["text"])
                    except JaxvisError as e:
                        await client.send({"type": "error", "message": str(e)})
        except WebSocketDisconnect:
            pass
        finally:
            client.closed = True
            client.stop_optimizing.set()
            client.wake.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    routes = [
        Route("/", page),
        Route("/info", info_json),
        Route("/files/{root}/{path:path}", workdir_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        WebSocketRoute("/ws", socket),
    ]
    return Starlette(routes=routes)

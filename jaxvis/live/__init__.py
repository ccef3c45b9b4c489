"""``jaxvis live``: the network looking at a webcam, an image, a video or
the demo world, in the browser (Yosinski et al. 2015, section 2).

- ``frame.py``: the per-frame work, compiled once per (architecture, layer, mode);
- ``session.py``: the WebSocket protocol, as pure functions of (network, state, message);
- ``server.py``: the Starlette app that uvicorn serves (``jaxvis live``);
- ``inputs.py``: decoding what a page sends, generated images, a server folder;
- ``unit_files.py``: a unit's saved pictures, served only from inside their workdirs;
- ``optimize_now.py``: the selected unit optimized in the background, streamed;
- ``static/``: the page (plain HTML, JavaScript and CSS; no build step).

docs/live.md describes the page, its keys and the protocol.
"""

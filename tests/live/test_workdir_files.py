"""The live view's HTTP side: the page and its static files, and the --topk /
--optimized workdirs' files, served only from inside those workdirs (no
``..``, no absolute path, no symlink or symlinked folder leading out)."""

import contextlib
import os

import anyio
import pytest
from starlette.testclient import TestClient

import jaxvis
from jaxvis.jobs.paths import topk_unit_dir, visualize_unit_dir
from jaxvis.live.server import make_app
from jaxvis.live.unit_files import resolve
from tests.live.messages import receive

SECRET = b"the secret outside the workdirs"


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("demo")


@pytest.fixture
def dirs(tmp_path):
    """Fake finished workdirs with the jobs' layout, a file outside them, and
    symlinks inside them: to a file outside, to a folder outside, to a file inside."""
    topk, vis, outside = tmp_path / "topk", tmp_path / "vis", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (tmp_path / "next-to.txt").write_bytes(SECRET)
    (tmp_path / "topk-sibling").mkdir()  # its path starts with the workdir's: a plain prefix test would let it in
    (tmp_path / "topk-sibling" / "secret.txt").write_bytes(SECRET)
    files = {}
    for channel, names in ((3, ("patches", "deconvs")), (4, ("patches",))):
        unit = topk_unit_dir(str(topk), "conv5", channel)
        os.makedirs(unit)
        for name in names:
            files[f"topk/conv5/{channel}/{name}"] = data = f"{name} of conv5 {channel}".encode()
            with open(os.path.join(unit, f"{name}.png"), "wb") as f:
                f.write(data)
    for preset, channels in (("row3", (3, 4)), ("row1", (3,))):
        for channel in channels:
            unit = visualize_unit_dir(str(vis), preset, "conv5", channel)
            os.makedirs(unit)
            files[f"optimized/{preset}/{channel}"] = data = f"grid {preset} conv5 {channel}".encode()
            with open(os.path.join(unit, "grid.png"), "wb") as f:
                f.write(data)
    unit3 = topk_unit_dir(str(topk), "conv5", 3)
    os.symlink(outside / "secret.txt", os.path.join(unit3, "leak.png"))
    os.symlink(outside, topk / "units" / "linkdir")
    os.symlink(tmp_path / "topk-sibling" / "secret.txt", topk / "sibling.png")
    os.symlink(os.path.join(unit3, "patches.png"), topk / "alias.png")
    return {"topk": str(topk), "optimized": str(vis), "outside": str(outside), "files": files}


def raw_get(app, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as given (an HTTP client would remove ``..``
    segments; a raw request, e.g. ``curl --path-as-is``, keeps them)."""
    sent = []

    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive():  # the request, then (once the response is sent) the client going away
        return next(requests, {"type": "http.disconnect"})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [], "server": ("testserver", 80), "client": ("testclient", 50000)}
    anyio.run(app, scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@contextlib.contextmanager
def connected(app):
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        info = receive(ws)
        assert info["type"] == "info"
        first = receive(ws)
        assert first["type"] == "selection"
        yield client, ws, info, first


def select(ws, **fields) -> dict:
    ws.send_json({"type": "select", **fields})
    reply = receive(ws)
    assert reply["type"] == "selection", reply
    return reply


# ------------------------------------------------ the page


def test_page_and_static_files(net):
    with TestClient(make_app(net)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'id="predictions"' in page.text and 'id="status"' in page.text
        for name, kind in (("live.js", "javascript"), ("live.css", "text/css")):
            response = client.get(f"/static/{name}")
            assert response.status_code == 200 and kind in response.headers["content-type"], name
            assert response.content  # not empty
        assert client.get("/static/missing.js").status_code == 404
        assert client.get("/static/../server.py").status_code == 404
        info = client.get("/info").json()
        assert info["type"] == "info" and info["default_layer"] == "relu5"


# ------------------------------------------------ workdir files over HTTP


def test_file_inside_is_served(net, dirs):
    app = make_app(net, topk=dirs["topk"], optimized=dirs["optimized"])
    with TestClient(app) as client:
        for url, key in (("/files/topk/units/conv5/0003/patches.png", "topk/conv5/3/patches"),
                         ("/files/topk/units/conv5/0003/deconvs.png", "topk/conv5/3/deconvs"),
                         ("/files/optimized/units/row3/conv5/0004/grid.png", "optimized/row3/4"),
                         ("/files/topk/alias.png", "topk/conv5/3/patches")):  # a symlink to a file inside
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.content == dirs["files"][key], url


def test_selection_lists_the_units_views_and_they_are_served(net, dirs):
    app = make_app(net, topk=dirs["topk"], optimized=dirs["optimized"])
    with connected(app) as (client, ws, info, first):
        assert info["topk"] is True and info["optimized"] is True
        assert first["views"] == {"topk": None, "optimized": [], "layer": "relu5"}  # relu5 0: no files
        views = select(ws, layer="conv5", unit=3)["views"]
        assert sorted(views["topk"]) == ["deconvs", "patches"]
        assert [v["preset"] for v in views["optimized"]] == ["row1", "row3"]
        urls = {f"topk/conv5/3/{name}": url for name, url in views["topk"].items()}
        urls.update({f"optimized/{v['preset']}/3": v["url"] for v in views["optimized"]})
        for key, url in urls.items():
            response = client.get(url)
            assert response.status_code == 200 and response.content == dirs["files"][key], url
        views = select(ws, unit=4)["views"]
        assert list(views["topk"]) == ["patches"]  # only the files that exist
        assert [v["preset"] for v in views["optimized"]] == ["row3"]
        assert client.get(views["optimized"][0]["url"]).content == dirs["files"]["optimized/row3/4"]
        assert select(ws, layer="pool2")["views"] == {"topk": None, "optimized": [], "layer": "pool2"}


def test_a_relu_blob_shows_the_pictures_of_the_blob_it_rectifies(net, dirs):
    """The jobs save pictures for conv5; relu5 (conv5 rectified, the same units)
    shows them, saying whose they are. pool5 rectifies nothing: no pictures."""
    app = make_app(net, topk=dirs["topk"], optimized=dirs["optimized"])
    with connected(app) as (client, ws, _, _):
        conv5 = select(ws, layer="conv5", unit=3)["views"]
        relu5 = select(ws, layer="relu5", unit=3)["views"]
        assert conv5["layer"] == "conv5" and relu5["layer"] == "conv5"
        assert {k: v for k, v in relu5.items() if k != "layer"} == {k: v for k, v in conv5.items() if k != "layer"}
        assert client.get(relu5["topk"]["patches"]).content == dirs["files"]["topk/conv5/3/patches"]
        assert select(ws, layer="relu4", unit=3)["views"] == {"topk": None, "optimized": [], "layer": "relu4"}
        assert select(ws, layer="pool5", unit=3)["views"] == {"topk": None, "optimized": [], "layer": "pool5"}


def test_view_urls_work_for_any_preset_name(net, dirs):
    """A preset named by ``FILE.py:NAME`` may hold characters that mean
    something in a URL (#, %, ?, space): the listed URL must still fetch the file."""
    preset = "best #2 at 50% ?"
    unit = visualize_unit_dir(dirs["optimized"], preset, "conv5", 3)
    os.makedirs(unit)
    with open(os.path.join(unit, "grid.png"), "wb") as f:
        f.write(b"grid of an oddly named preset")
    app = make_app(net, optimized=dirs["optimized"])
    with connected(app) as (client, ws, _, _):
        views = select(ws, layer="conv5", unit=3)["views"]
        url = {v["preset"]: v["url"] for v in views["optimized"]}[preset]
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content == b"grid of an oddly named preset"


OUTSIDE = {
    "percent-encoded ..": "/files/topk/units/conv5/0003/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "percent-encoded .. at the root": "/files/topk/%2E%2E/outside/secret.txt",
    "percent-encoded .. to a sibling file": "/files/topk/%2e%2e/next-to.txt",
    "absolute path": "/files/topk//etc/passwd",
    "percent-encoded absolute path": "/files/topk/%2Fetc%2Fpasswd",
    "absolute path to the secret": "/files/topk/{outside}/secret.txt",
    "symlink to a file outside": "/files/topk/units/conv5/0003/leak.png",
    "symlinked folder leading outside": "/files/topk/units/linkdir/secret.txt",
    "symlink to a sibling folder with the same prefix": "/files/topk/sibling.png",
    "backslash": "/files/topk/..%5Coutside%5Csecret.txt",
    "unknown root": "/files/other/x",
    "root not configured": "/files/optimized/units/row3/conv5/0003/grid.png",
    "a folder": "/files/topk/units",
    "missing file": "/files/topk/units/conv5/0003/nothing.png",
    "the root itself": "/files/topk/",
}


@pytest.mark.parametrize("name", list(OUTSIDE))
def test_refused_over_http(net, dirs, name):
    url = OUTSIDE[name].format(outside=dirs["outside"])
    with TestClient(make_app(net, topk=dirs["topk"])) as client:
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert SECRET not in response.content


@pytest.mark.parametrize("path", [
    "/files/topk/../outside/secret.txt",
    "/files/topk/units/conv5/0003/../../../../outside/secret.txt",
    "/files/topk/../next-to.txt",
])
def test_literal_dot_segments_are_refused(net, dirs, path):
    app = make_app(net, topk=dirs["topk"])
    assert raw_get(app, "/files/topk/units/conv5/0003/patches.png") == (200, dirs["files"]["topk/conv5/3/patches"])
    status, body = raw_get(app, path)
    assert status == 404 and SECRET not in body, path


# ------------------------------------------------ resolve, directly


def test_resolve_inside(dirs):
    root = os.path.realpath(dirs["topk"])
    want = os.path.join(root, "units", "conv5", "0003", "patches.png")
    assert resolve(root, "units/conv5/0003/patches.png") == want
    assert resolve(root, "alias.png") == want  # a symlink that stays inside: its real file


@pytest.mark.parametrize("relative", [
    "../outside/secret.txt",
    "units/../../outside/secret.txt",
    "units/conv5/0003/../../../../next-to.txt",
    "..",
    "/etc/passwd",
    "//etc/passwd",
    "{outside}/secret.txt",
    "\\etc\\passwd",
    "..\\outside\\secret.txt",
    "units/conv5/0003/leak.png",
    "units/linkdir/secret.txt",
    "sibling.png",
    "units/conv5/0003/patches.png\0",
    "units",
    "units/conv5/0003/nothing.png",
    "",
])
def test_resolve_refuses(dirs, relative):
    root = os.path.realpath(dirs["topk"])
    assert resolve(root, relative.format(outside=dirs["outside"])) is None


def test_missing_workdir_is_a_config_error(net, tmp_path):
    with pytest.raises(jaxvis.ConfigError, match=r"--topk '/does/not/exist' is not a folder"):
        make_app(net, topk="/does/not/exist")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(jaxvis.ConfigError, match=r"--optimized .*file\.txt.* is not a folder"):
        make_app(net, optimized=str(a_file))

"""`jaxvis live` end to end: the real server (uvicorn in a thread, the demo
network) and the real page in headless Chromium, whose fake webcam plays a
.y4m video of demo-world disks. The page must stream the webcam, name the
class, select units by a click on the tile grid and by keys, freeze the
frame, show the key help, and report a frame rate. A screenshot lands in
test-artifacts/live_demo.png for a person to look at.

Chromium and chromedriver are Debian's (/usr/bin); .ci/run installs them.
Without them this test fails (it does not skip): the live view is part of
what CI checks.
"""

import base64
import contextlib
import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import jaxvis
from jaxvis.data import shapes
from jaxvis.live.server import listening_socket, make_app, server_config

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-artifacts" / "live_demo.png"

CLASS = "disk"  # the webcam shows only this class (the demo network's surest one)
MIN_P = 0.99  # each webcam frame's probability of CLASS after the simulated video round trip
FRAMES = 16  # distinct frames in the video (at least MIN_FRAMES)
MIN_FRAMES = 10
UNIT = 3  # the unit the URL opens on
CLICKED = 10  # the unit the test clicks in the tile grid (a row below UNIT)
FIRST_FRAME_S = 90  # the first frame includes compiling the network's stages
WAIT_S = 30


# --- the fake webcam: RGB <-> YUV 4:2:0 (BT.601, video range, what Chromium assumes) ---

def rgb_to_yuv420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB [H, W, 3] (H, W even) -> uint8 planes Y [H, W], U and V [H/2, W/2]."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb, cr = (b - y) / 1.772, (r - y) / 1.402
    h, w = y.shape

    def quarter(plane):  # the mean of each 2x2 block
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = (16 + y * 219 / 255, 128 + quarter(cb) * 224 / 255, 128 + quarter(cr) * 224 / 255)
    return tuple(np.clip(np.round(p), 0, 255).astype(np.uint8) for p in planes)


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The inverse of rgb_to_yuv420 (chroma repeated 2x2), as a player decodes it."""
    luma = (y.astype(np.float64) - 16) * 255 / 219
    cb = ((u.astype(np.float64) - 128) * 255 / 224).repeat(2, 0).repeat(2, 1)
    cr = ((v.astype(np.float64) - 128) * 255 / 224).repeat(2, 0).repeat(2, 1)
    r, b = luma + 1.402 * cr, luma + 1.772 * cb
    g = (luma - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.round(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def write_y4m(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """frames: uint8 RGB [N, H, W, 3] -> a YUV4MPEG2 4:2:0 file, Chromium's fake capture format."""
    _, h, w, _ = frames.shape
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            f.write(b"FRAME\n")
            f.writelines(plane.tobytes() for plane in rgb_to_yuv420(frame))


def as_the_page_sends_it(big: np.ndarray) -> np.ndarray:
    """A 128x128 webcam frame after the video round trip, scaled to the
    network's 64x64 the way the page's canvas does (about a 2x2 mean)."""
    rgb = yuv420_to_rgb(*rgb_to_yuv420(big)).astype(np.float64)
    return np.round(rgb.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))).astype(np.uint8)


def test_yuv_round_trip():
    flat = np.broadcast_to(np.array([200, 30, 90], np.uint8), (4, 4, 3))
    assert np.abs(yuv420_to_rgb(*rgb_to_yuv420(flat)).astype(int) - flat).max() <= 2
    images, _ = shapes.make_batch(9999, 0, 8)  # sharp edges: the chroma's 2x2 means blur them
    errors = [np.abs(yuv420_to_rgb(*rgb_to_yuv420(image)).astype(int) - image).mean() for image in images]
    assert max(errors) < 6, errors


# --- fixtures ---

@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("demo")


@pytest.fixture(scope="module")
def webcam_video(net, tmp_path_factory):
    """A .y4m of FRAMES demo-world images of CLASS (64 -> 128 by 2x nearest
    neighbour), each classified as CLASS with p >= MIN_P after the round trip;
    and those frames as the page should send them ([FRAMES, 64, 64, 3])."""
    label = shapes.CLASSES.index(CLASS)
    images, labels = shapes.make_batch(9999, 0, 200)
    big = images[labels == label].repeat(2, axis=1).repeat(2, axis=2)
    sent = np.stack([as_the_page_sends_it(b) for b in big])
    p = np.asarray(net.probabilities(net.blobs(net.preprocess(sent))))[:, label]
    keep = np.flatnonzero(p >= MIN_P)[:FRAMES]
    assert len(keep) >= MIN_FRAMES, (f"only {len(keep)} of {len(big)} demo-world {CLASS}s are classified {CLASS} "
                                     f"with p >= {MIN_P} after the YUV round trip; the test needs {MIN_FRAMES}")
    path = tmp_path_factory.mktemp("webcam") / f"{CLASS}.y4m"
    write_y4m(path, big[keep])
    return path, sent[keep]


@contextlib.contextmanager
def serving(app, name: str = "jaxvis-live-test"):
    """The live server of ``app`` on 127.0.0.1, a free port, in a background thread; yields its URL."""
    sock = listening_socket("127.0.0.1", 0)  # as `jaxvis live` binds, on a free port
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, "127.0.0.1", port))  # as `jaxvis live` serves it
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the live server's thread ended before it started serving"
        assert time.monotonic() < deadline, "the live server did not start within 60 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def headless_chromium(profile, *flags):
    """Debian's headless Chromium with the flags every browser test uses (and ``flags``), browser console
    logs kept; Selenium is given the driver, so it never looks for or downloads one."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,900", *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def live_url(net):
    """The live server on 127.0.0.1, a free port, in a background thread."""
    with serving(make_app(net)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    """Fails (never skips) without Debian's Chromium and chromedriver."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: the live view's browser test needs Debian's Chromium; "
                    "install it with `apt-get install chromium chromium-driver` (.ci/run does)", pytrace=False)


@pytest.fixture(scope="module")
def browser(chromium, webcam_video, tmp_path_factory):
    """Headless Chromium whose webcam plays ``webcam_video``."""
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), "--use-fake-device-for-media-stream",
                               "--use-fake-ui-for-media-stream",
                               f"--use-file-for-fake-video-capture={webcam_video[0]}")
    try:
        yield driver
    finally:
        driver.quit()


# --- the page ---

def page_state(driver) -> dict:
    """What the page shows, for failure messages."""
    return driver.execute_script("""
        const text = (id) => document.getElementById(id).textContent;
        return {status: text("status"), message: text("message"), unit: text("unit-name"),
                predictions: [...document.querySelectorAll("#predictions li")].map((li) => li.textContent),
                frame: state.frame && {seq: state.frame.seq, layer: state.frame.layer, unit: state.frame.unit}};""")


def wait_for(driver, condition, what: str, timeout: float = WAIT_S):
    """condition(driver)'s first truthy value within ``timeout`` s, or a failure naming ``what`` and the page."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException:
        pass
    pytest.fail(f"not within {timeout} s: {what}\npage: {page_state(driver)}\nconsole: {console(driver)}")


def console(driver) -> list[str]:
    return [f"{e['level']}: {e['message']}" for e in driver.get_log("browser")]


def frame(driver) -> dict | None:
    return driver.execute_script("return state.frame && {seq: state.frame.seq, layer: state.frame.layer, "
                                 "unit: state.frame.unit, inFlight: state.inFlight}")


def canvas(driver, element_id: str) -> str:
    """A digest of the canvas's pixels (its PNG data URL)."""
    url = driver.execute_script(f"return document.getElementById({element_id!r}).toDataURL()")
    return hashlib.sha1(base64.b64decode(url.split(",", 1)[1])).hexdigest()


def pixels(driver, element_id: str) -> np.ndarray:
    """The canvas's RGB pixels."""
    url = driver.execute_script(f"return document.getElementById({element_id!r}).toDataURL()")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def views(driver) -> dict:
    return {name: canvas(driver, name) for name in ("input", "selected", "backward")}


def press(driver, key: str) -> None:
    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def click_tile(driver, unit: int) -> None:
    """Click the middle of ``unit``'s tile, located from the page's grid
    (``state.grid``: columns, tile width ``cell`` and height in canvas pixels, 1 px gaps and border)."""
    grid = driver.execute_script("return state.grid")
    tiles = driver.find_element(By.ID, "tiles")
    size = driver.execute_script("const c = arguments[0], r = c.getBoundingClientRect();"
                                 "return {w: c.width, h: c.height, cw: r.width, ch: r.height};", tiles)
    row, col = divmod(unit, grid["cols"])
    x = (1 + col * (grid["cell"] + 1) + grid["cell"] / 2) * size["cw"] / size["w"]
    y = (1 + row * (grid["height"] + 1) + grid["height"] / 2) * size["ch"] / size["h"]
    ActionChains(driver).move_to_element_with_offset(tiles, round(x - size["cw"] / 2),
                                                     round(y - size["ch"] / 2)).click().perform()


def fps(driver) -> float:
    match = re.match(r"fps (\d+(?:\.\d+)?)", driver.find_element(By.ID, "status").text)
    return float(match.group(1)) if match else 0.0


def recomputed(driver, before: dict, unit: int) -> dict:
    """Waits for the server's frame for ``unit`` computed after ``before``; returns it."""
    wait_for(driver, lambda d: (f := frame(d)) and f["seq"] > before["seq"] and f["unit"] == unit,
             f"a frame of conv5 unit {unit} after frame {before['seq']}")
    return frame(driver)


def test_live_page_with_a_fake_webcam(live_url, browser, webcam_video, capsys):
    driver = browser
    driver.get(f"{live_url}/?source=webcam&layer=conv5&unit={UNIT}")

    # Streaming: frames arrive one after another, each naming the class first.
    wait_for(driver, lambda d: (f := frame(d)) and f["seq"] >= 3, "three webcam frames computed", FIRST_FRAME_S)
    top = page_state(driver)["predictions"]  # read in one go: each frame replaces the list
    assert top and top[0].startswith(f"{CLASS} "), f"the webcam shows a {CLASS}; the page's top-5 is {top}"
    assert driver.find_element(By.ID, "unit-name").text.startswith(f"conv5 #{UNIT} "), page_state(driver)
    rate = wait_for(driver, lambda d: fps(d) > 0 and fps(d), "a frame rate above 0 on the status line")
    assert driver.find_element(By.ID, "message").text == "", page_state(driver)
    # The network saw a video frame, centred and scaled to 64x64 (the server sends back what it saw).
    seen = pixels(driver, "input").astype(int)
    assert seen.shape == (64, 64, 3), f"the network's input is {seen.shape}, not the demo network's 64x64"
    distance = min(np.abs(seen - frame).mean() for frame in webcam_video[1])
    assert distance < 3, f"the network's input is {distance:.1f} (mean |RGB difference|) from the nearest video frame"

    # Frozen: the page sends no more frames; the last image stays.
    press(driver, "f")
    wait_for(driver, lambda d: "(frozen)" in d.find_element(By.ID, "status").text and not frame(d)["inFlight"],
             "the status line saying (frozen) and no frame in flight")
    still = frame(driver)
    time.sleep(1.0)
    assert frame(driver)["seq"] == still["seq"], "the frozen page kept sending frames"
    before = views(driver)

    # A click on a tile selects its unit: the server recomputes the frozen image for it.
    click_tile(driver, CLICKED)
    wait_for(driver, lambda d: d.find_element(By.ID, "hover").text.startswith(f"channel {CLICKED},"),
             f"the label of the channel under the mouse naming {CLICKED}")
    clicked = recomputed(driver, still, CLICKED)
    after_click = views(driver)
    assert driver.find_element(By.ID, "unit-name").text.startswith(f"conv5 #{CLICKED} "), page_state(driver)
    assert after_click["input"] == before["input"], "the frozen input image changed"
    assert after_click["selected"] != before["selected"], f"the enlarged map stayed unit {UNIT}'s after the click"
    assert after_click["backward"] != before["backward"], f"the backward view stayed unit {UNIT}'s after the click"

    # Keys move the selection: l one unit right, ArrowDown one row down.
    press(driver, "l")
    keyed = recomputed(driver, clicked, CLICKED + 1)
    after_key = views(driver)
    assert driver.find_element(By.ID, "unit-name").text.startswith(f"conv5 #{CLICKED + 1} "), page_state(driver)
    assert after_key["input"] == before["input"], "the frozen input image changed"
    assert after_key["selected"] != after_click["selected"], "the enlarged map did not change on the key l"
    assert after_key["backward"] != after_click["backward"], "the backward view did not change on the key l"
    cols = driver.execute_script("return state.grid.cols")
    press(driver, Keys.ARROW_DOWN)
    recomputed(driver, keyed, CLICKED + 1 + cols)
    assert views(driver)["backward"] != after_key["backward"], "the backward view did not change on ArrowDown"

    ActionChains(driver).move_to_element(driver.find_element(By.ID, "predictions")).perform()  # off the tiles
    wait_for(driver, lambda d: d.find_element(By.ID, "hover").text == "", "the hovered channel's label cleared")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))
    with capsys.disabled():  # shown also when pytest captures output
        print(f"\nscreenshot of the live view (webcam: {CLASS}s, fps {rate}): {SCREENSHOT}")

    # h shows the key help and hides it again.
    help_box = driver.find_element(By.ID, "help")
    assert not help_box.is_displayed()
    press(driver, "h")
    wait_for(driver, lambda d: help_box.is_displayed(), "the key help shown after h")
    assert "freeze" in help_box.text
    press(driver, "h")
    wait_for(driver, lambda d: not help_box.is_displayed(), "the key help hidden after a second h")

    # Unfrozen, the webcam streams again.
    last = frame(driver)
    press(driver, "f")
    wait_for(driver, lambda d: frame(d)["seq"] >= last["seq"] + 3, "webcam frames again after unfreezing")

    errors = [line for line in console(driver) if line.startswith("SEVERE")]
    assert not errors, f"the page logged errors: {errors}"


def test_opened_images_and_refused_uploads(live_url, browser, net, tmp_path):
    """An image opened on the page is analysed; a file that is not an image,
    and one over the upload limit, are refused with a message on the page,
    and the next image is analysed again (the server kept serving)."""
    driver = browser
    driver.get(f"{live_url}/?source=generated&layer=conv5")
    wait_for(driver, lambda d: (f := frame(d)) and f["seq"] >= 1, "the first generated image computed", FIRST_FRAME_S)
    images, labels = shapes.make_batch(9999, 200, 40)
    p = np.asarray(net.probabilities(net.blobs(net.preprocess(images))))
    sure = [i for i in range(len(images)) if p[i, labels[i]] >= MIN_P]
    first, second = (int(i) for i in sure[:2])
    opener = driver.find_element(By.ID, "file")

    def open_file(path):
        opener.send_keys(str(path))

    def analysed(path, index):
        Image.fromarray(images[index]).save(path)
        before = frame(driver)["seq"]
        open_file(path)
        name = shapes.CLASSES[labels[index]]
        wait_for(driver, lambda d: frame(d)["seq"] > before and d.find_element(By.ID, "input-name").text == path.name
                 and page_state(d)["predictions"][:1] and page_state(d)["predictions"][0].startswith(f"{name} "),
                 f"{path.name} analysed: the top prediction {name}")

    analysed(tmp_path / "first.png", first)
    (tmp_path / "notes.png").write_text("not an image at all")
    open_file(tmp_path / "notes.png")
    wait_for(driver, lambda d: "not an image" in d.find_element(By.ID, "message").text,
             "the message refusing a file that is not an image")
    (tmp_path / "huge.png").write_bytes(b"\0" * (9 * 1024 * 1024))  # over the 8 MB default limit
    open_file(tmp_path / "huge.png")
    wait_for(driver, lambda d: "huge.png is 9.4 MB" in d.find_element(By.ID, "message").text,
             "the message refusing a file over the upload limit")
    analysed(tmp_path / "second.png", second)
    errors = [line for line in console(driver) if line.startswith("SEVERE")]
    assert not errors, f"the page logged errors: {errors}"

"""The live page on a vision transformer (tests/live/test_tokens_live.py's
small ViT), in headless Chromium: a token blob's tiles are its patch maps
with the prefix strip (the class token) drawn below each in blue, a click
on the enlarged map's strip selects the class token and a click on its map
a patch, and deconv's refusal shows in the backward pane. Needs Debian's
Chromium and chromedriver, as test_browser.py does."""


import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from jaxvis.live.server import make_app
from tests.live.test_browser import ROOT, FIRST_FRAME_S, chromium, console, frame, headless_chromium, pixels, \
    press, serving, wait_for  # noqa: F401 (chromium: the fixture)
from tests.live.test_tokens_live import GRID, LAYER, small_vit

UNIT = 5
SCREENSHOT = ROOT / "test-artifacts" / "live_vit.png"


@pytest.fixture(scope="module")
def vit_url():
    with serving(make_app(small_vit()), "jaxvis-live-vit") as url:
        yield url


@pytest.fixture(scope="module")
def page(chromium, tmp_path_factory):  # noqa: F811
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def click_canvas(driver, element_id: str, y: int, x: int) -> None:
    """Click the middle of pixel (y, x) of a canvas, in its own pixels."""
    element = driver.find_element(By.ID, element_id)
    size = driver.execute_script("const c = arguments[0], r = c.getBoundingClientRect();"
                                 "return {w: c.width, h: c.height, cw: r.width, ch: r.height};", element)
    cx, cy = (x + 0.5) * size["cw"] / size["w"], (y + 0.5) * size["ch"] / size["h"]
    ActionChains(driver).move_to_element_with_offset(element, round(cx - size["cw"] / 2),
                                                     round(cy - size["ch"] / 2)).click().perform()


def sel(driver) -> dict:
    return driver.execute_script("return state.sel")


def test_token_blob_tiles_strip_and_clicks(vit_url, page):
    driver = page
    h, w = GRID
    driver.get(f"{vit_url}/?source=generated&layer={LAYER}&unit={UNIT}&mode=backprop")
    wait_for(driver, lambda d: (f := frame(d)) and f["layer"] == LAYER and f["unit"] == UNIT,
             f"a frame of {LAYER} #{UNIT}", FIRST_FRAME_S)

    # Each tile: the 4x4 patch map (grey), a 1 px gap, one strip row with the class token (blue).
    grid = driver.execute_script("return state.grid")
    assert (grid["cell"], grid["height"], grid["count"]) == (w, h + 2, 64), grid
    data = driver.execute_script("const f = state.frame; return {tiles: Array.from(f.tiles.data), "
                                 "prefix: Array.from(f.prefix.data), shape: f.prefix.shape};")
    assert data["shape"] == [64, 1]
    tiles, prefix = np.asarray(data["tiles"]).reshape(64, h, w), np.asarray(data["prefix"]).reshape(64, 1)
    shown = pixels(driver, "tiles").astype(int)
    for k in (0, UNIT, 63):
        r0, c0 = 1 + (k // grid["cols"]) * (grid["height"] + 1), 1 + (k % grid["cols"]) * (grid["cell"] + 1)
        np.testing.assert_array_equal(shown[r0:r0 + h, c0:c0 + w], np.repeat(tiles[k][..., None], 3, -1))
        blue = np.floor(np.array([0.55, 0.75, 1]) * prefix[k, 0] + 0.5)  # the page's stripColor (Math.round)
        np.testing.assert_array_equal(shown[r0 + h + 1, c0], blue)
    # The enlarged map: the patch map, then the strip.
    big = pixels(driver, "selected").astype(int)
    assert big.shape == (h + 2, w, 3)
    np.testing.assert_array_equal(big[:h, :, 0], tiles[UNIT])
    assert big[h + 1, 0, 2] == prefix[UNIT, 0]

    before = frame(driver)
    click_canvas(driver, "selected", h + 1, 0)  # the class token
    wait_for(driver, lambda d: sel(d)["token"] == 0 and frame(d)["seq"] > before["seq"], "the class token selected")
    wait_for(driver, lambda d: "prefix token 0" in d.find_element(By.ID, "unit-name").text, "the unit naming token 0")
    assert driver.execute_script("return state.frame.backward !== null")
    before = frame(driver)
    click_canvas(driver, "selected", 2, 1)  # patch (2, 1)
    wait_for(driver, lambda d: sel(d)["at"] == [2, 1] and sel(d)["token"] is None and frame(d)["seq"] > before["seq"],
             "patch (2, 1) selected")
    assert "at (2, 1)" in driver.find_element(By.ID, "unit-name").text

    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))  # for a person to look at
    press(driver, "b")  # backprop -> deconv: the transformer's nonlinearities have no deconv rule
    wait_for(driver, lambda d: "deconv" in d.find_element(By.ID, "backward-error").text,
             "the backward pane saying why deconv has no view")
    assert driver.find_element(By.ID, "message").text == ""
    errors = [line for line in console(driver) if line.startswith("SEVERE")]
    assert not errors, f"the page logged errors: {errors}"

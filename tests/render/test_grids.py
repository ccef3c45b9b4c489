import numpy as np
from PIL import Image

from jaxvis.render import montage, save_png, unit_grid


def test_unit_grid_places_restarts_row_major():
    imgs = np.stack([np.full((4, 5, 3), i * 20, np.uint8) for i in range(9)])
    g = unit_grid(imgs)
    assert g.shape == (3 * 4 + 2 * 2, 3 * 5 + 2 * 2, 3)
    for i in range(9):
        r, c = divmod(i, 3)
        assert (g[r * 6 : r * 6 + 4, c * 7 : c * 7 + 5] == i * 20).all()
    assert (g[4:6] == 255).all()  # separator rows


def test_montage_with_empty_cells_and_png(tmp_path):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 3, 3, 3), dtype=np.uint8)
    m = montage(imgs, cols=4)
    assert m.shape == (2 * 3 + 1, 4 * 3 + 3, 3)
    np.testing.assert_array_equal(m[4:7, 0:3], imgs[4])
    assert (m[4:7, 4:] == 255).all()
    path = save_png(m, tmp_path / "sub" / "m.png", min_size=20)
    back = np.asarray(Image.open(path))
    assert back.shape == (m.shape[0] * 3, m.shape[1] * 3, 3)
    np.testing.assert_array_equal(back[::3, ::3], m)

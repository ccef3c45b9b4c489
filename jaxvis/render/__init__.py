"""Turning arrays into pictures: grids, montages, PNG files."""

from jaxvis.render.grids import grid, montage, save_png, unit_grid

__all__ = ["grid", "montage", "save_png", "unit_grid"]

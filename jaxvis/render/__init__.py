"""Turning arrays into pictures: grids, montages, PNG files, and the four
renderings of a backward projection."""

from jaxvis.render.grids import grid, montage, save_png, unit_grid
from jaxvis.render.projections import RENDERINGS, render_projection

__all__ = ["RENDERINGS", "grid", "montage", "render_projection", "save_png", "unit_grid"]

"""Backward projections from a unit down to pixels: deconvnet, guided
backprop and backprop as switchable backward passes of the same network
(``jaxvis.render_projection`` turns them into pictures)."""

from jaxvis.backward.projection import project, projection_fn

__all__ = ["project", "projection_fn"]

"""Backward projections from a unit down to pixels: deconvnet, guided
backprop and backprop as switchable backward passes of the same network."""

from jaxvis.backward.project import project, projection_fn
from jaxvis.backward.render import RENDERINGS, render

__all__ = ["RENDERINGS", "project", "projection_fn", "render"]

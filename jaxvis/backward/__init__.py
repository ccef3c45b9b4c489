"""Backward projections from a unit down to pixels: deconvnet, guided
backprop and backprop as switchable backward passes of the same network
(``jaxvis.render_projection`` turns them into pictures)."""

from jaxvis.backward.projection import project, projection_fn
from jaxvis.ops.substitute import with_relu_backward

__all__ = ["project", "projection_fn", "with_relu_backward"]

"""Regularized activation maximisation (Yosinski et al. 2015, section 3)."""

from jaxvis.optimize.presets import TABLE1, preset
from jaxvis.optimize.visualization import VisResult, run_layer, visualize

__all__ = ["TABLE1", "VisResult", "preset", "run_layer", "visualize"]

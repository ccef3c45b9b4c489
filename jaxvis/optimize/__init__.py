"""Activation maximisation: the regularized ascent of Yosinski et al. 2015
(section 3) and the newer image families, transforms and objectives
(docs/feature_vis.md), in one compiled program."""

from jaxvis.optimize import objectives
from jaxvis.optimize.presets import TABLE1, preset
from jaxvis.optimize.visualization import VisResult, run_layer, visualize

__all__ = ["TABLE1", "VisResult", "objectives", "preset", "run_layer", "visualize"]

"""Yosinski et al. 2015 Table 1, row 1, as an ascent preset.

    python -c "import jaxvis; net = jaxvis.load_model('demo'); jaxvis.visualize(net, [('fc8', 0)], preset='row1')"

The values live in jaxvis/optimize/presets.py (the one source of truth);
this file exposes them to --config flags of the visualization jobs.
"""

from jaxvis.optimize.presets import preset


def get_config():
    return preset("row1")

"""Layer operations as pure functions on NHWC arrays.

``backward.py`` gives ReLU, max pooling and LRN the switchable backward
passes of the projections (deconv, guided, backprop); their forward numbers
are exactly these.
"""

from jaxvis.ops.conv import conv2d, dense
from jaxvis.ops.lrn import lrn_across_channels
from jaxvis.ops.pool import adaptive_avg_pool, max_pool, pool_output_size

__all__ = [
    "adaptive_avg_pool",
    "conv2d",
    "dense",
    "lrn_across_channels",
    "max_pool",
    "pool_output_size",
]

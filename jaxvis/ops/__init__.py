"""Layer operations as pure functions on NHWC arrays.

Later the backward-projection code gives relu, max pooling and LRN a
switchable backward pass; the forward numbers stay exactly these.
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

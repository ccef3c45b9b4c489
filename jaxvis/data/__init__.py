"""Image input/output and preprocessing."""

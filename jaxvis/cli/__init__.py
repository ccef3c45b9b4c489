"""Command-line entry points; the only package that defines absl flags."""

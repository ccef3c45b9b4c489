"""Training of the demo networks on the generated shapes world."""

from jaxvis.train.trainer import train_and_evaluate

__all__ = ["train_and_evaluate"]

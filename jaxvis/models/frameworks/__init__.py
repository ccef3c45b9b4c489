"""Framework adapters: every blob of a network written in Flax linen, Flax
NNX, Keras 3 or Equinox, named by one rule (``naming.py``), as a pure
``apply(params, x) -> {blob: array}`` that ``jaxvis.from_flax``,
``from_nnx``, ``from_keras`` and ``from_equinox`` wrap in a ``FunctionDef``."""

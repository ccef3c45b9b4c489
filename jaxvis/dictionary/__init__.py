"""Sparse dictionary features of any layer (docs/dictionary.md): a TopK
sparse autoencoder learned on a layer's activations (``sae``, ``train``),
stored (``store``), and its features made units of the network
(``features.with_dictionary``), so that every tool that takes a unit takes
a feature."""

from jaxvis.dictionary.features import with_dictionary
from jaxvis.dictionary.store import Dictionary, DictionaryError, load_dictionary

__all__ = ["Dictionary", "DictionaryError", "load_dictionary", "with_dictionary"]

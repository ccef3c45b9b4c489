"""Errors a user can act on: each names the thing and what was expected.

All derive from :class:`JaxvisError` (a ``ValueError``), so callers can catch
one type; the CLI prints the message alone instead of a traceback.
"""


class JaxvisError(ValueError):
    """Base class of every error jaxvis raises on purpose."""


class UnknownModelError(JaxvisError):
    """A model name that is not in the registry."""


class WeightsFileError(JaxvisError):
    """A weights file that is missing, truncated, or not the expected format."""


class ArchitectureMismatchError(JaxvisError):
    """Weights or a prototxt whose layers do not match the chosen architecture."""


class InputImageError(JaxvisError):
    """Images of a dtype, rank or channel count that cannot be preprocessed."""


class UnitError(JaxvisError):
    """An unknown layer name or a unit index out of range."""

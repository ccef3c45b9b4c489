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
    """Images (or arrays given as images) of a dtype, rank, shape or channel
    count that a function cannot take."""


class UnitError(JaxvisError):
    """An unknown layer name or a unit index out of range."""


class ConfigError(JaxvisError):
    """A job config field, or a function argument, outside its allowed values
    (an unknown mode or preset, a count below 1, a folder that does not exist)."""


class ModelDefinitionError(JaxvisError):
    """An architecture whose layers cannot be built: an unknown layer type,
    groups that do not divide the channels, a window larger than its input."""

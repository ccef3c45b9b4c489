"""Early checks of the fields a user sets in a job or training config. Each job's
``check_config`` runs them before it loads a model, claims a workdir or
computes anything, and every failure is one JaxvisError naming the field:

    config.mode: 'sideways' is not one of backprop, deconv, guided
    config.layers: demo has no layer 'conv9'; its layers are: conv1, relu1, ...

(ConfigError for a value outside its range, UnitError for a layer,
UnknownModelError for a model, WeightsFileError for a weights path.)
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os

from jaxvis.errors import ConfigError, JaxvisError, UnitError, UnknownModelError, WeightsFileError
from jaxvis.loading import load_model
from jaxvis.models.frameworks.keras import is_keras_file
from jaxvis.plugin import is_plugin_path, load_plugin
from jaxvis.models.registry import get_model_def, model_names
from jaxvis.weights import checkpoint


def get(config, name: str):
    """``config.<name>``, or a ConfigError when the config has no such field."""
    try:
        present = name in config
    except TypeError:
        raise ConfigError(f"a job config is an ml_collections.ConfigDict (start from a file in configs/), "
                          f"got {type(config).__name__}") from None
    if not present:
        raise ConfigError(f"config.{name}: missing; this job needs the field (start from its file in configs/)")
    return config[name]


@contextlib.contextmanager
def field(name: str):
    """Re-raises a JaxvisError of the block as the same class, its message
    prefixed with ``config.<name>: `` (so a message names the field once)."""
    try:
        yield
    except JaxvisError as e:
        if str(e).startswith("config."):
            raise
        raise type(e)(f"config.{name}: {e}") from None


def _bounds(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""


def integer(config, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    value = get(config, name)
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum)):
        raise ConfigError(f"config.{name}: {value!r} is not an integer{_bounds(minimum, maximum)}")
    return int(value)


def number(config, name: str, minimum: float | None = None, maximum: float | None = None,
           positive: bool = False) -> float:
    value = get(config, name)
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or (minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            or (positive and value <= 0)):
        expected = "a number > 0" if positive else f"a number{_bounds(minimum, maximum)}"
        raise ConfigError(f"config.{name}: {value!r} is not {expected}")
    return float(value)


def boolean(config, name: str) -> bool:
    value = get(config, name)
    if not isinstance(value, bool):
        raise ConfigError(f"config.{name}: {value!r} is not True or False")
    return value


def text(config, name: str) -> str:
    value = get(config, name)
    if not isinstance(value, str):
        raise ConfigError(f"config.{name}: {value!r} is not a string")
    return value


def one_of(config, name: str, allowed) -> str:
    value = get(config, name)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"config.{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def names(config, name: str, allow_empty: bool = True) -> tuple:
    """A tuple (or list) field of strings; a lone string is refused (a common slip)."""
    value = get(config, name)
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"config.{name}: {value!r} is not a tuple of names, e.g. ('a',) or ('a', 'b')")
    if not value and not allow_empty:
        raise ConfigError(f"config.{name}: {value!r} is empty; name at least one")
    return tuple(value)


def model(config, name: str = "model"):
    """The architecture of a registry name, a plugin path, a Keras ``.keras``
    file (with ``config.spec``, for ``config.model``) or a jaxvis model directory."""
    value = get(config, name)
    if not isinstance(value, str) or not value:
        raise UnknownModelError(f"config.{name}: {value!r} is not a model; known models: {', '.join(model_names())}, "
                                "a plugin path package.module:function, a Keras file path.keras, or a jaxvis model "
                                "directory")
    spec = model_spec(config) if name == "model" else None
    with field(name):
        architecture = checkpoint.read_meta(value)["model"] if checkpoint.is_checkpoint(value) else value
        if is_keras_file(architecture):
            return load_model(value, spec=spec).definition
    if spec is not None:
        raise ConfigError(f"config.spec: {spec!r} is the preprocessing of a Keras .keras model; config.{name} "
                          f"{value!r} carries its own (leave config.spec empty)")
    with field(name):
        if is_plugin_path(architecture):
            return load_plugin(architecture).definition
        return get_model_def(architecture)


def model_spec(config):
    """``config.spec``, the preprocessing of a ``.keras`` model (``jaxvis.load_model``'s ``spec``:
    "caffe", "tf", "torch" or a JSON object of PreprocessSpec fields); None when empty or absent."""
    value = config.get("spec", "") if hasattr(config, "get") else ""
    if not isinstance(value, str):
        raise ConfigError(f"config.spec: {value!r} is not a string; expected '' (the model's own preprocessing), "
                          "'caffe', 'tf', 'torch' or a JSON object of PreprocessSpec fields")
    return value or None


def roles(definition, name: str, *roles_needed: str) -> None:
    """The model declares one of ``roles_needed`` ("class_layer", "prob_layer"); UnitError otherwise."""
    if not any(getattr(definition, r) is not None for r in roles_needed):
        raise UnitError(f"config.{name}: {definition.name} declares no {' or '.join(roles_needed)}, which this job "
                        "needs (pass it to jaxvis.from_flax / from_function)")


def weights(config, name: str = "weights") -> str:
    """The weights field: "" (the shipped weights, else random), "random", or a path that exists."""
    value = get(config, name)
    if not isinstance(value, str) or (value not in ("", "random") and not os.path.exists(value)):
        raise WeightsFileError(f"config.{name}: {value!r} does not exist; expected '' (the shipped weights), "
                               "'random', or a weights file or jaxvis model directory")
    return value


def layers(definition, config, name: str = "layers", allow_empty: bool = True,
           spatial: bool = False) -> tuple:
    """Every entry a layer of ``definition`` (with ``spatial``: a conv-like layer with maps)."""
    chosen = names(config, name, allow_empty)
    for one in chosen:
        check_layer(definition, name, one, spatial)
    return chosen


def layer(definition, config, name: str, spatial: bool = False) -> str:
    value = get(config, name)
    if not isinstance(value, str):
        raise ConfigError(f"config.{name}: {value!r} is not a layer name")
    check_layer(definition, name, value, spatial)
    return value


def check_layer(definition, name: str, layer_name: str, spatial: bool = False) -> None:
    """``layer_name`` (taken from field ``name``) is a layer of ``definition``."""
    info = next((i for i in definition.table() if i.name == layer_name), None)
    if info is None:
        raise UnitError(f"config.{name}: {definition.name} has no layer {layer_name!r}; its layers are: "
                        f"{', '.join(definition.layer_names)}")
    if spatial and not info.spatial:
        what = "a token blob (a transformer's)" if info.tokens is not None else "fully connected"
        raise UnitError(f"config.{name}: {definition.name} layer {layer_name!r} is {what}; this job "
                        "needs a layer with spatial maps (conv, relu, pool, norm)")


def source(config, name: str = "source") -> str:
    """The source field: "shapes" (the generated demo world) or a folder that exists."""
    value = get(config, name)
    if not isinstance(value, str) or (value != "shapes" and not os.path.isdir(value)):
        raise ConfigError(f"config.{name}: {value!r} is not 'shapes' (the generated demo world) or a folder "
                          "of images that exists")
    return value


def existing_file(config, name: str, optional: bool = True) -> str:
    """A path to a file that exists ("" allowed when ``optional``)."""
    value = get(config, name)
    if not isinstance(value, str) or ((value or not optional) and not os.path.isfile(value)):
        raise ConfigError(f"config.{name}: file {value!r} does not exist")
    return value


def existing_folder(config, name: str, optional: bool = True) -> str:
    value = get(config, name)
    if not isinstance(value, str) or ((value or not optional) and not os.path.isdir(value)):
        raise ConfigError(f"config.{name}: folder {value!r} does not exist")
    return value


def presets(config, name: str = "presets") -> tuple:
    """Preset names (Table 1 rows or FILE.py:NAME), each loaded once to check it."""
    from jaxvis.optimize.presets import preset

    chosen = names(config, name, allow_empty=False)
    with field(name):
        for p in chosen:
            preset(p)
    return chosen


def dictionary(config, definition, name: str = "dictionary"):
    """``config.dictionary``: "" (none) or a trained dictionary (a ``jaxvis
    dictionary`` workdir) of a layer of ``definition``; returns it, or None."""
    value = config.get(name, "") if hasattr(config, "get") else ""
    if not isinstance(value, str):
        raise ConfigError(f"config.{name}: {value!r} is not a path; expected '' or a `jaxvis dictionary` workdir")
    if not value:
        return None
    from jaxvis.dictionary.features import check_fits
    from jaxvis.dictionary.store import load_dictionary

    with field(name):
        found = load_dictionary(value)
        check_fits(definition, found)
    return found


def layers_with_features(definition, config, found, name: str = "layers") -> tuple:
    """``layers`` where, with a dictionary ``found``, its features' blob is a layer too."""
    chosen = names(config, name)
    for one in chosen:
        if found is None or one != found.blob:
            check_layer(definition, name, one)
    return chosen

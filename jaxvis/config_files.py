"""Python config files: ml_collections ``get_config()`` modules, named as
``FILE.py`` or ``FILE.py:ARG`` (the argument passed to ``get_config``), the
form ``--config=`` takes on the command line. Job configs and preset files
are read by this one loader."""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from jaxvis.errors import ConfigError


def split_name(name: str, what: str = "config file") -> tuple[str, str]:
    """``"configs/demo_train.py:demo_b"`` -> ``("configs/demo_train.py", "demo_b")``."""
    path, sep, arg = os.fspath(name).partition(".py")
    if not sep:
        raise ConfigError(f"{what} {name!r} is not a Python file; expected FILE.py or FILE.py:ARG")
    return path + ".py", arg.lstrip(":")


def get_config(name: str, what: str = "config file"):
    """Runs ``get_config([ARG])`` of the file ``name`` names and returns what it
    gives; ``what`` names the file in errors ("preset file", ...)."""
    path, arg = split_name(name, what)
    if not os.path.isfile(path):
        raise ConfigError(f"{what} {path} does not exist (from {name!r})")
    spec = importlib.util.spec_from_file_location(f"jaxvis_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{what} {path} defines no get_config()")
    return module.get_config(arg) if arg else module.get_config()


def load_config(name: str, **overrides) -> ml_collections.ConfigDict:
    """A job config from its file, with fields overridden as ``--config.key=value`` would:
    ``load_config("configs/topk_demo.py", source="my_images", images=200)``."""
    config = get_config(name)
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config file {split_name(name)[0]} gives a {type(config).__name__}, "
                          "expected an ml_collections.ConfigDict")
    config = ml_collections.ConfigDict(config.to_dict())
    for key, value in overrides.items():
        if key not in config:
            raise ConfigError(f"config {name!r} has no field {key!r}; its fields are: {', '.join(sorted(config))}")
        try:
            config[key] = value
        except (TypeError, ValueError) as e:
            raise ConfigError(f"config field {key!r} of {name!r}: {e}") from None
    return config

"""Plugin paths: a network named by the function that builds it,
``package.module:function`` (big_vision's style), for job configs
(``--config.model=my_package.my_nets:make_net``), the CLI and model
directories, with no registration step.

The function takes no arguments and returns a ``jaxvis.Net`` (usually from
``jaxvis.from_flax`` / ``jaxvis.from_function``, or ``jaxvis.load_model``).
Its module is imported the normal way: it must be importable from the
current directory or the Python path.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys

from jaxvis.errors import JaxvisError, ModelDefinitionError, UnknownModelError
from jaxvis.net import Net

_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_plugin_path(name) -> bool:
    """``package.module:function``: dotted identifiers, a colon, an identifier."""
    return isinstance(name, str) and bool(_PATTERN.match(name))


def load_plugin(path: str):
    """The Net that the function at ``path`` returns, its definition's
    ``source`` set to ``path`` (so a saved model directory reloads from it).
    UnknownModelError names the module or the attribute that is missing."""
    module_name, attribute = path.split(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m` has it
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or whatever the module raises while it is imported
        first = str(e).splitlines()[0] if str(e) else ""
        raise UnknownModelError(f"plugin {path!r}: module {module_name!r} does not import: "
                                f"{type(e).__name__}: {first}") from None
    make = getattr(module, attribute, None)
    if make is None:
        raise UnknownModelError(f"plugin {path!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) has "
                                f"no attribute {attribute!r}")
    if not callable(make):
        raise UnknownModelError(f"plugin {path!r}: {module_name}.{attribute} is a {type(make).__name__}, "
                                "expected a function returning a jaxvis.Net")
    try:
        net = make()
    except JaxvisError:
        raise
    except Exception as e:  # the user's function raises whatever it raises
        first = str(e).splitlines()[0] if str(e) else ""
        raise ModelDefinitionError(f"plugin {path!r}: {module_name}.{attribute}() raised "
                                   f"{type(e).__name__}: {first}") from None
    if not isinstance(net, Net):
        raise ModelDefinitionError(f"plugin {path!r}: {module_name}.{attribute}() returned a {type(net).__name__}, "
                                   "expected a jaxvis.Net (from jaxvis.from_flax, from_function or load_model)")
    if hasattr(net.definition, "source") and net.definition.source != path:
        net = dataclasses.replace(net, definition=dataclasses.replace(net.definition, source=path))
    return net

"""Importing timm (and transformers) without a working torchvision (test-only code).

The ViT references of the tests are timm's ``VisionTransformer`` and
transformers' ``Dinov2Model``. torchvision from PyPI does not import beside
the torch 2.13 CPU wheel the tests pin (its compiled operators are built for
another torch: ``operator torchvision::nms does not exist``), so it is not
installed. timm imports it anyway, at ``import timm``, but only for its data
transforms (``timm.data``: ``torchvision.transforms``, ``InterpolationMode``,
datasets) and for ``FrozenBatchNorm2d`` (``timm.layers``, ``timm.utils``),
none of which a ViT forward ever calls.

``stubbed_torchvision()`` serves dummy ``torchvision`` and ``torchvision.*``
modules while it is active: every attribute of a stub module is a dummy
class (and every attribute of a dummy class another one), so ``from
torchvision.ops.misc import FrozenBatchNorm2d`` and class-level uses such as
``InterpolationMode.BILINEAR`` in a dict succeed; instantiating or calling any
of them raises ``RuntimeError``, so a reference that did use torchvision
fails loudly instead of computing something else.

On leaving, the stub's finder comes off ``sys.meta_path`` and the stub
modules leave ``sys.modules`` (what was there before is put back): they must
not outlive the import, because transformers, on seeing a ``torchvision``
without installed metadata, reads its ``__version__`` (none: ``"N/A"``) and
fails on it (``InvalidVersion``). So ``import_timm()`` imports timm alone
under the stub (transformers, imported before or after, then finds no
torchvision and imports none); ``import_transformers_dinov2()`` imports
transformers without the stub, except where a
real (broken) torchvision is installed: transformers would import that one
and fail, so then it too is imported under the stub (the installed metadata
gives it a version).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

__all__ = ["stubbed_torchvision", "import_timm", "import_transformers_dinov2", "real_torchvision_installed"]


def _is_torchvision(name: str) -> bool:
    return name == "torchvision" or name.startswith("torchvision.")


class _DummyMeta(type):
    """Any attribute of a dummy class is another dummy class, made once and kept."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        sub = _DummyMeta(name, (cls,), {"__module__": cls.__module__})
        setattr(cls, name, sub)
        return sub


class _Dummy(metaclass=_DummyMeta):
    """A stand-in for any torchvision object: using it (calling, instantiating) raises."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"torchvision is stubbed out for the tests (tests/reference/torchvision_stub.py): "
                           f"{type(self).__name__} cannot be used")


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _DummyMeta(name, (_Dummy,), {"__module__": self.__name__})


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []  # a package: ``torchvision.ops.misc`` imports too
        return module

    def exec_module(self, module):
        pass


class _StubFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if _is_torchvision(name):
            return importlib.machinery.ModuleSpec(name, _StubLoader(), is_package=True)
        return None


@contextlib.contextmanager
def stubbed_torchvision():
    """While active, ``import torchvision`` (and any submodule) gives a stub; afterwards
    ``sys.meta_path`` and the ``torchvision*`` entries of ``sys.modules`` are as before."""
    saved = {k: sys.modules.pop(k) for k in [k for k in sys.modules if _is_torchvision(k)]}
    finder = _StubFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for k in [k for k in sys.modules if _is_torchvision(k)]:
            del sys.modules[k]
        sys.modules.update(saved)


def real_torchvision_installed() -> bool:
    """Whether an actual torchvision is on the path (outside any stub)."""
    if any(isinstance(f, _StubFinder) for f in sys.meta_path):
        raise RuntimeError("real_torchvision_installed() inside stubbed_torchvision()")
    module = sys.modules.get("torchvision")
    if module is not None and not isinstance(module, _StubModule):
        return True
    try:
        return importlib.util.find_spec("torchvision") is not None
    except ValueError:  # sys.modules["torchvision"] is None (hidden) or has no spec
        return False


def import_transformers_dinov2():
    """(Dinov2Config, Dinov2Model) from transformers; raises ImportError where transformers is missing.

    Without torchvision installed transformers is imported as it is (it sees none). With a real
    torchvision it is imported under the stub: transformers then takes torchvision's version from the
    installed metadata and never needs the module itself for Dinov2Model."""
    if "transformers" in sys.modules or not real_torchvision_installed():
        transformers = importlib.import_module("transformers")
    else:
        with stubbed_torchvision():
            transformers = importlib.import_module("transformers")
            # transformers imports lazily: pull in what the tests use while the stub is active
            config, model = transformers.Dinov2Config, transformers.Dinov2Model
        return config, model
    return transformers.Dinov2Config, transformers.Dinov2Model


def import_timm():
    """The timm module, imported with torchvision stubbed out; raises ImportError where timm is missing.
    Nothing else is imported while the stub is active (transformers must not see it: the module
    docstring), and timm's modules keep the dummies they took."""
    if "timm" not in sys.modules:
        with stubbed_torchvision():
            importlib.import_module("timm")
    return sys.modules["timm"]

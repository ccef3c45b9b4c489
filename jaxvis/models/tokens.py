"""Token blobs: the activations of a vision transformer, ``[B, N, D]``.

A token blob's ``TokenLayout`` says which of its N tokens are what: the
first ``prefix`` tokens (a class token, registers) and then a patch grid of
``h x w`` tokens, row-major, so patch (y, x) is token ``prefix + y * w + x``.
jaxvis reads every unit of such a blob from this layout: a neuron at a patch
(y, x), a prefix token ``k``, a channel's mean over the patch tokens; top-k
pages and the live view draw each channel's ``h x w`` patch map.

A network declares its layouts (``tokens=`` of ``jaxvis.from_function``
and the adapters: one ``TokenLayout`` for every token blob, or
``{blob: TokenLayout}``), or jaxvis infers one (``infer``) when exactly one
fits: at most ``MAX_PREFIX`` prefix tokens (and fewer than the patch
tokens) before the grid of a square patch size that tiles the input. When
none or several fit, the error names the blob and how to declare it.
"""

from __future__ import annotations

import dataclasses
import numbers

import jax

from jaxvis.errors import ModelDefinitionError

MAX_PREFIX = 16  # the largest prefix inference considers (a class token and up to 15 registers)


@dataclasses.dataclass(frozen=True)
class TokenLayout:
    """``prefix`` tokens (class token, registers), then an ``h x w`` patch grid, row-major."""

    prefix: int
    grid: tuple[int, int]

    def __post_init__(self):
        grid = tuple(self.grid) if isinstance(self.grid, (tuple, list)) else self.grid
        ok = (isinstance(self.prefix, numbers.Integral) and not isinstance(self.prefix, bool) and self.prefix >= 0
              and isinstance(grid, tuple) and len(grid) == 2
              and all(isinstance(g, numbers.Integral) and not isinstance(g, bool) and g > 0 for g in grid))
        if not ok:
            raise ModelDefinitionError(f"TokenLayout(prefix={self.prefix!r}, grid={self.grid!r}): expected a prefix "
                                       "count >= 0 and a grid (h, w) of positive integers")
        object.__setattr__(self, "prefix", int(self.prefix))
        object.__setattr__(self, "grid", (int(grid[0]), int(grid[1])))

    @property
    def tokens(self) -> int:
        """N: prefix plus patch tokens."""
        return self.prefix + self.grid[0] * self.grid[1]

    def index(self, y, x):
        """The token of patch (y, x) (ints, or arrays of them)."""
        return self.prefix + y * self.grid[1] + x


def patch_map(blob: jax.Array, layout: TokenLayout) -> jax.Array:
    """[B, N, C] tokens -> [B, h, w, C]: the patch tokens as a map."""
    h, w = layout.grid
    return blob[:, layout.prefix:].reshape(blob.shape[0], h, w, blob.shape[-1])


def prefix_tokens(blob: jax.Array, layout: TokenLayout) -> jax.Array:
    """[B, N, C] tokens -> [B, prefix, C]."""
    return blob[:, :layout.prefix]


def _how(name: str) -> str:
    return (f"declare it: tokens=jaxvis.TokenLayout(prefix=..., grid=(h, w)) for every token blob, or "
            f"tokens={{{name!r}: jaxvis.TokenLayout(...)}}")


def candidates(n: int, input_size: tuple[int, int]) -> list[TokenLayout]:
    """The layouts of N tokens that inference considers, for an input (H, W):
    a prefix of at most MAX_PREFIX, and fewer than the patches, before an (H // s) x (W // s) grid for a
    patch size s >= 2 that tiles the input exactly; failing any such, one
    that leaves a remainder (a strided convolution without padding)."""
    height, width = input_size
    for exact in (True, False):
        found = set()
        for s in range(2, min(height, width) + 1):
            if exact and (height % s or width % s):
                continue
            h, w = height // s, width // s
            if 0 <= n - h * w <= MAX_PREFIX and n - h * w < h * w:
                found.add(TokenLayout(n - h * w, (h, w)))
        if found:
            return sorted(found, key=lambda t: t.prefix)
    return []


def infer(name: str, n: int, input_size: tuple[int, int]) -> TokenLayout:
    """The one layout that fits N tokens at input (H, W), or a
    ModelDefinitionError naming the blob and how to declare its layout."""
    found = candidates(n, input_size)
    if len(found) == 1:
        return found[0]
    shape = f"{n} tokens at input {input_size[0]}x{input_size[1]}"
    if not found:
        raise ModelDefinitionError(f"blob {name!r}: {shape} fit no layout of at most {MAX_PREFIX} prefix tokens "
                                   f"and a square patch grid; {_how(name)}")
    options = ", ".join(f"prefix {t.prefix} + grid {t.grid[0]}x{t.grid[1]}" for t in found)
    raise ModelDefinitionError(f"blob {name!r}: {shape} fit several layouts ({options}); {_how(name)}")


def resolve(name: str, n: int, input_size: tuple[int, int], declared) -> TokenLayout:
    """The layout of token blob ``name`` with N tokens: the declared one
    (a TokenLayout, or a dict naming blobs; checked against N), else inferred."""
    layout = declared.get(name) if isinstance(declared, dict) else declared
    if layout is None:
        return infer(name, n, input_size)
    if layout.tokens != n:
        raise ModelDefinitionError(f"blob {name!r} has {n} tokens, but its declared TokenLayout(prefix="
                                   f"{layout.prefix}, grid={layout.grid}) has {layout.tokens}")
    return layout


def check_declared(name: str, declared) -> None:
    """``tokens=`` of a network: None, a TokenLayout, or {blob name: TokenLayout}."""
    if declared is None or isinstance(declared, TokenLayout):
        return
    if isinstance(declared, dict) and all(isinstance(k, str) and isinstance(v, TokenLayout)
                                          for k, v in declared.items()):
        return
    raise ModelDefinitionError(f"{name}: tokens= must be a jaxvis.TokenLayout or a dict {{blob name: TokenLayout}}, "
                               f"got {type(declared).__name__}")

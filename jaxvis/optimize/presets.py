"""The four hyperparameter rows of Yosinski et al. 2015, Table 1, with the
step counts and learning-rate policies of the reference toolbox's
documentation (docs/ascent.md). Row 3 is the paper's best single setting.

``fourier`` and ``maco`` are the newer families (docs/feature_vis.md): Adam
on a Fourier image with 1/f scaling and colour decorrelation (Lucid's
defaults: lr 0.05, 512 steps, transforms every step), and on MaCo's phase.
"""

from __future__ import annotations

import os

import ml_collections

from jaxvis.config_files import get_config, split_name
from jaxvis.errors import ConfigError

# name: (decay, blur_width, blur_every, norm_pct, contrib_pct, steps, lr_policy, lr, desired_progress)
TABLE1 = {
    "row1": (0.0, 0.5, 4, 50.0, 0.0, 500, "progress", 100.0, 2.0),
    "row2": (0.3, 0.0, 0, 20.0, 0.0, 750, "constant", 100.0, 0.0),
    "row3": (0.0001, 1.0, 4, 0.0, 0.0, 1000, "constant", 100.0, 0.0),
    "row4": (0.0, 0.5, 4, 0.0, 90.0, 1000, "progress", 1e8, 2.0),
    # No regularization at all: the baseline the paper improves on.
    "none": (0.0, 0.0, 0, 0.0, 0.0, 1000, "constant", 100.0, 0.0),
}
# name: (family, steps, Adam's lr, transforms, diversity); the paper's regularizers are off.
FAMILY_PRESETS = {
    "fourier": ("fourier", 512, 0.05, True, 0.0),
    "maco": ("maco", 512, 0.05, True, 0.0),
}
FIELDS = ("decay", "blur_width", "blur_every", "norm_pct", "contrib_pct", "steps", "lr_policy", "lr",
          "desired_progress")
NAMES = (*TABLE1, *FAMILY_PRESETS)


def preset(name: str) -> ml_collections.ConfigDict:
    """The named row as a config: decay, blur_width, blur_every, norm_pct,
    contrib_pct, steps, lr_policy ("constant" | "progress"), lr (the constant
    rate, or the progress policy's max), desired_progress, start.
    ``name`` may also be ``FILE.py:NAME``: a preset file such as the one
    ``jaxvis search`` exports, whose ``get_config(NAME)`` gives those fields."""
    if not isinstance(name, str) or (".py" not in name and name not in NAMES):
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(NAMES)}, or FILE.py:NAME")
    if ".py" in name:
        return _from_file(name)
    if name in FAMILY_PRESETS:
        family, steps, lr, transforms, diversity = FAMILY_PRESETS[name]
        c = ml_collections.ConfigDict(dict(zip(FIELDS, TABLE1["none"])))
        c.update(steps=steps, lr=lr, family=family, transforms=transforms, diversity=diversity)
    else:
        c = ml_collections.ConfigDict(dict(zip(FIELDS, TABLE1[name])))
        c.update(family="pixel", transforms=False, diversity=0.0)
    c.start = "mean_plus_rand"
    return c


def label(name: str) -> str:
    """A preset's name in file and chunk names, always one path component: a
    Table 1 row's own name; ``FILE.py:NAME`` -> NAME; ``DIR/FILE.py`` -> FILE."""
    if not isinstance(name, str) or ".py" not in name:
        if name not in NAMES:
            preset(name)  # raises: unknown preset
        return name
    path, arg = split_name(name)
    if "/" in arg or os.sep in arg or arg in (".", ".."):
        raise ConfigError(f"preset {name!r}: its name {arg!r} cannot be a file name; expected one without '/'")
    return arg or os.path.splitext(os.path.basename(path))[0]


def _from_file(name: str) -> ml_collections.ConfigDict:
    path, arg = split_name(name)
    try:
        c = get_config(name, what="preset file")
    except KeyError as e:
        raise ConfigError(f"preset file {path} has no preset {arg!r} ({e})") from None
    missing = set(FIELDS) - set(c)
    if missing:
        raise ConfigError(f"preset {name!r} lacks {', '.join(sorted(missing))}")
    return ml_collections.ConfigDict(dict(c))

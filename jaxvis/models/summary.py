"""The layer table that ``jaxvis inspect`` prints."""

from __future__ import annotations

from jaxvis.models.geometry import LayerInfo


def _rf(info: LayerInfo) -> tuple[str, str]:
    if info.rf_size is None:
        return "image", "-"
    return str(info.rf_size), str(info.rf_stride)


def format_table(definition, table: list[LayerInfo] | None = None, spec=None, total: int | None = None) -> str:
    """One row per blob of a model definition: name, kind, output shape,
    units, receptive field size and stride in input pixels, parameter count;
    then the input spec (``spec``, default the definition's) and ``total``
    parameters (default: the sum of the rows)."""
    table = table or definition.table()
    header = ("layer", "kind", "output (H,W,C)", "units", "rf", "rf stride", "params")
    rows = [header]
    for info in table:
        shape = "x".join(str(d) for d in info.shape)
        if info.tokens is not None:  # tokens: prefix + patch grid, then the width
            shape = f"{info.tokens.prefix}+{info.tokens.grid[0]}x{info.tokens.grid[1]} tokens x{info.channels}"
        rows.append((info.name, info.kind, shape, str(info.channels), *_rf(info), f"{info.params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    s = spec or definition.spec
    total = definition.parameter_count() if total is None else total
    mean = "mean image" if getattr(s.mean, "ndim", 1) == 3 else "mean " + ", ".join(f"{v:g}" for v in s.mean)
    lines += [
        "",
        f"{definition.name}: {definition.description}",
        f"input {s.input_size[0]}x{s.input_size[1]} {s.channel_order}, scale {s.scale:g}, {mean}"
        + ("" if all(v == 1 for v in s.std) else ", std " + ", ".join(f"{v:g}" for v in s.std)),
        f"total parameters: {total:,}",
    ]
    return "\n".join(lines)

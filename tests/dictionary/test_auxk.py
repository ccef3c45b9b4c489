"""The AuxK term revives dead latents (Gao et al. 2024, section 2.4), on a
constructed case through the training step ``jaxvis dictionary`` uses
(``train.update``).

The data: each sample is ``c * D_j``, one of 16 unit directions ``D`` in 8
dimensions, ``c`` uniform in [1, 2]. The dictionary (16 latents, k = 1)
starts with latents 0..11 on ``D_0..D_11`` and latents 12..15 dead: a zero
encoder row and ``b_enc`` 0.01, so their pre-activation is positive but
always below the winner's, and they never enter the codes. Only the AuxK
term can give them a gradient: with it they must fire again and take the
four directions no live latent holds; with the term off (a dead-latent
horizon no run reaches) they must stay silent."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvis.dictionary import sae, train

D_MODEL, LATENTS, LIVE = 16, 16, 12


def _directions():
    """e_0..e_11, then (e_j + 3 e_{12+j}) / sqrt(10) for j < 4: each missing
    direction leans on a live latent's direction, so that latent keeps winning
    its samples (a pre-activation of c / sqrt(10)) while leaving most of them
    unexplained."""
    d = np.eye(D_MODEL)[:, :LATENTS].copy()
    for j in range(LATENTS - LIVE):
        d[:, LIVE + j] = (np.eye(D_MODEL)[j] + 3 * np.eye(D_MODEL)[LIVE + j]) / np.sqrt(10)
    return d


def _samples(directions, step, n=256):
    rng = np.random.default_rng([11, step])
    j = rng.integers(0, LATENTS, n)
    return jnp.asarray((directions[:, j] * rng.uniform(1, 2, n)).T, jnp.float32)


def _train(dead_after, steps=300):
    true = _directions()
    rng = np.random.default_rng(3)
    w_dec = true.copy()
    w_dec[:, LIVE:] = rng.normal(size=(D_MODEL, LATENTS - LIVE))
    w_dec /= np.linalg.norm(w_dec, axis=0)
    w_enc = true.T.copy()
    w_enc[LIVE:] = 0.0
    b_enc = np.where(np.arange(LATENTS) < LIVE, 0.0, 0.01)
    params = {"W_enc": jnp.asarray(w_enc, jnp.float32), "b_enc": jnp.asarray(b_enc, jnp.float32),
              "W_dec": jnp.asarray(w_dec, jnp.float32), "b_pre": jnp.zeros(D_MODEL, jnp.float32)}
    tx = optax.adam(1e-2)
    state = train.new_state(params, tx)
    step = jax.jit(lambda s, a: train.update(s, a, tx, 1, 4, dead_after))
    fired = np.zeros(LATENTS, bool)
    for i in range(steps):
        state, _ = step(state, _samples(true, i))
        if i >= steps - 20:  # which latents are among the codes at the end
            z = sae.encode(state["params"], _samples(true, 10_000 + i), 1)
            fired |= np.asarray(jnp.any(z > 0, axis=0))
    return true, state["params"], fired


def test_auxk_revives_dead_latents_onto_the_missing_directions():
    true, params, fired = _train(dead_after=256)
    assert fired[LIVE:].all(), f"dead latents still silent with AuxK: {np.flatnonzero(~fired)}"
    # each revived decoder column has found one of the directions no live latent started on
    cosine = np.asarray(params["W_dec"])[:, LIVE:].T @ true[:, LIVE:]
    assert (cosine.max(axis=1) > 0.9).all(), cosine.round(2)


def test_without_auxk_the_dead_latents_stay_dead():
    _, params, fired = _train(dead_after=10**9)
    assert not fired[LIVE:].any(), np.flatnonzero(fired)
    np.testing.assert_array_equal(np.asarray(params["W_enc"])[LIVE:], 0.0)

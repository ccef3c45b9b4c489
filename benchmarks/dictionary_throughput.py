"""Dictionary features, speed: the TopK SAE's training step against
overcomplete's, and all of a dictionary's features visualized in one program
against one feature at a time, both side by side in one run on this machine.

    python benchmarks/dictionary_throughput.py                       # 1.5 min on a shared 2-core CPU
    python benchmarks/dictionary_throughput.py --steps 200 --features 64 --vis-steps 128

1. Training throughput, activation samples per second, on the SAME samples:
   every place of the shipped ``demo`` network's conv5 (16 x 16 x 48) on
   ``--images`` demo-world images (``jaxvis.shapes.make_batch`` of seed
   4000, as configs/demo_dictionary.py trains on), computed once into an
   array before anything is timed, then cut into steps of
   ``--images-per-step`` images (16: 4,096 samples, as the config), cycled.
   Both sides: 48 -> 192 latents (expansion 4), k = 8, Adam lr 1e-3
   (constant), the same initial parameters (``sae.init_params``, b_pre at
   the geometric median of the first step's samples), ``--warmup`` untimed
   steps, then ``--steps`` timed ones; ``--repeats`` rounds alternate the
   two sides, and each side's best round is reported.

   (a) jaxvis: ``jaxvis.dictionary.train.update`` jitted (the state donated)
       with ``optax.adam``, the step ``jaxvis dictionary`` runs minus the
       conv5 forward: normalised MSE plus 1/32 of the AuxK term (its top-k
       over the latents is computed every step, also while no latent is
       dead), the decoder gradient's radial component projected out, Adam,
       the decoder's columns renormalised, the dead-latent counter advanced;
   (b) overcomplete 0.3's torch ``TopKSAE(48, 192, top_k=8)`` (its default
       linear encoder; only ``overcomplete.sae`` is imported, as
       tests/dictionary/test_sae.py does, because the package's
       ``__init__`` needs an older matplotlib) in a plain torch loop:
       ``pre, z, x_hat = sae(a - b_pre)`` (its forward renormalises the
       dictionary's rows in training mode), loss = the same normalised MSE,
       ``zero_grad``, ``backward``, ``torch.optim.Adam(lr=1e-3).step``.
       No AuxK term and no decoder-gradient projection, and b_pre is a fixed
       constant, not learned: jaxvis's step does more work than this one.
       torch runs on all of this process's cores (``torch.set_num_threads``).

   Printed: samples/s for each side and their ratio (a / b: above 1, jaxvis
   is faster), the CPU share other processes used meanwhile, and each side's
   normalised MSE at its last step (both must be learning).

2. Visualizing F features (``--features``), ``jaxvis.with_dictionary(net,
   d)`` of a ``jaxvis.dictionary.store.Dictionary`` holding part 1's jaxvis
   SAE after its warmup + repeats x steps updates: ``jaxvis.visualize(
   wrapped, [("conv5.features", i) for i in range(F)], preset, restarts,
   seed=0, steps=S)`` once for all F features (one compiled program), against
   a Python loop of F calls of ``visualize`` with one feature each (one
   compiled program for a batch of one, reused by every call). Each is timed
   on its first call (compilation + run; for the loop, feature 0 alone) and
   then warm (the batched call again; the whole loop of F calls), so the
   warm ratio excludes compilation on both sides and the first-call times
   show what it costs. Also printed: the largest difference between the
   batched and one-by-one best values (the same optimization, so it should
   be small).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# torch's OpenMP threads sleep rather than spin at barriers (as benchmarks/feature_vis.py sets, for the same
# reason: a small CPU shared with other work). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib.metadata  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from feature_vis import pct, timed  # noqa: E402  (benchmarks/feature_vis.py)
from timing import cpu_model  # noqa: E402  (benchmarks/timing.py)
from jaxvis.dictionary import sae, samples, train  # noqa: E402
from jaxvis.dictionary.store import Dictionary  # noqa: E402

MODEL, LAYER, SHAPES_SEED = "demo", "conv5", 4000


def conv5_samples(net, images: int, chunk: int = 64) -> np.ndarray:
    """Every conv5 place of ``images`` demo-world images of SHAPES_SEED: float32 [images * 256, 48]."""
    info = net.layer(LAYER)
    out = []
    for lo in range(0, images, chunk):
        x, _ = jaxvis.shapes.make_batch(SHAPES_SEED, lo, min(chunk, images - lo))
        out.append(np.asarray(samples.from_blob(net.blobs(net.preprocess(x), until=LAYER)[LAYER], info)))
    return np.concatenate(out).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=128, help="demo-world images whose conv5 places are the samples")
    ap.add_argument("--images-per-step", type=int, default=16, help="images per training step (x 256 samples)")
    ap.add_argument("--expansion", type=int, default=4, help="latents = expansion x conv5's 48 channels")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=5, help="untimed training steps first (jaxvis: compilation)")
    ap.add_argument("--steps", type=int, default=100, help="timed training steps per round")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of the two training sides, best of each")
    ap.add_argument("--features", type=int, default=32, help="F: features 0..F-1 visualized")
    ap.add_argument("--vis-steps", type=int, default=64)
    ap.add_argument("--preset", default="row3", help="visualize's preset (row3: the dictionary job's)")
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    ap.add_argument("--skip", choices=("none", "train", "visualize"), default="none", help="leave out one part")
    args = ap.parse_args()
    if min(args.images, args.images_per_step, args.expansion, args.k, args.steps, args.repeats, args.features,
           args.vis_steps, args.restarts, args.threads) < 1 or args.warmup < 0:
        ap.error("every count must be >= 1 (--warmup >= 0)")
    if args.images < args.images_per_step:
        ap.error("--images must be at least --images-per-step")

    import torch

    torch.set_num_threads(args.threads)
    net = jaxvis.load_model(MODEL)
    info = net.layer(LAYER)
    d = info.channels
    latents, k = args.expansion * d, args.k
    if k > latents or args.features > latents:
        ap.error(f"--k and --features must be at most the {latents} latents")
    k_aux, dead_after = sae.default_k_aux(d), 200_000  # configs/demo_dictionary.py's (job_config's defaults)
    dev = jax.devices()[0]
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"device: jax {dev.device_kind} ({jax.default_backend()}, {jax.device_count()} device(s)); CPU: "
          f"{cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"(torch.set_num_threads), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; load average {load}")

    t = time.perf_counter()
    data = conv5_samples(net, args.images)
    per_step = args.images_per_step * samples.per_image(info)
    batches = [data[lo:lo + per_step] for lo in range(0, len(data) - per_step + 1, per_step)]
    b_pre = sae.geometric_median(batches[0])
    params0 = {key: np.asarray(v) for key, v in sae.init_params(d, latents, 0, b_pre).items()}
    print(f"samples: {MODEL} {LAYER} ({info.shape[0]}x{info.shape[1]}x{d}) of {args.images} demo-world images "
          f"(seed {SHAPES_SEED}): {len(data)} samples, {len(batches)} steps of {per_step} cycled; "
          f"computed in {time.perf_counter() - t:.1f} s, not timed")

    tx = optax.adam(args.lr)
    step = jax.jit(lambda state, a: train.update(state, a, tx, k, k_aux, dead_after), donate_argnums=0)
    params = {key: jnp.asarray(v) for key, v in params0.items()}
    state = train.new_state(params, tx)
    jax_batches = [jnp.asarray(b) for b in batches]
    done = 0  # jaxvis training steps run so far

    def jax_steps(n):
        nonlocal state, done
        metrics = None
        for _ in range(n):
            state, metrics = step(state, jax_batches[done % len(jax_batches)])
            done += 1
        jax.block_until_ready((state, metrics))
        return float(metrics["nmse"])

    if args.skip != "train":
        from tests.reference.overcomplete_sae import topk_sae

        try:
            model = topk_sae(params0, k).train()
        except ImportError as e:
            raise SystemExit(str(e)) from None
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        torch_batches = [torch.from_numpy(np.array(b)) for b in batches]
        t_pre = torch.from_numpy(np.array(params0["b_pre"]))
        torch_done = 0

        def torch_steps(n):
            nonlocal torch_done
            loss = None
            for _ in range(n):
                a = torch_batches[torch_done % len(torch_batches)]
                torch_done += 1
                x = a - t_pre
                _, _, x_hat = model(x)
                loss = (x - x_hat).square().sum() / (x - x.mean(0)).square().sum().clamp_min(1e-30)
                opt.zero_grad()
                loss.backward()
                opt.step()
            return float(loss.detach())

        t_jw = timed(lambda: jax_steps(args.warmup))[0]
        torch_steps(args.warmup)
        best = {"a": (np.inf, np.nan, np.nan), "b": (np.inf, np.nan, np.nan)}
        for _ in range(args.repeats):
            for side, fn in (("a", jax_steps), ("b", torch_steps)):
                wall, others, nmse = timed(lambda fn=fn: fn(args.steps))
                if wall < best[side][0]:
                    best[side] = (wall, others, nmse)
        rate = {side: args.steps * per_step / best[side][0] for side in best}
        print(f"\n1. SAE training step, {d} -> {latents} latents, k={k}, {per_step} samples per step, Adam lr "
              f"{args.lr:g}; {args.warmup} warmup steps untimed (jaxvis's include its compilation, "
              f"{t_jw:.1f} s), then {args.steps} timed steps per round, best of {args.repeats} alternating rounds")
        print(f"{'':32s} {'seconds':>8s} {'samples/s':>10s} {'others':>7s} {'nmse last step':>14s}")
        print(f"{'(a) jaxvis train.update (jit)':32s} {best['a'][0]:8.2f} {rate['a']:10.0f} {pct(best['a'][1]):>7s} "
              f"{best['a'][2]:14.4f}")
        print(f"{'(b) overcomplete TopKSAE, torch':32s} {best['b'][0]:8.2f} {rate['b']:10.0f} "
              f"{pct(best['b'][1]):>7s} {best['b'][2]:14.4f}")
        print(f"a/b (samples/s ratio, above 1: jaxvis faster): {rate['a'] / rate['b']:.2f}")
        print(f"(a) does more per step than (b): normalised MSE + 1/32 AuxK on steps with a dead latent "
              f"(k_aux={k_aux}, dead_after={dead_after}), "
              f"the decoder gradient's radial component projected out, decoder renormalised, dead counter. "
              f"(b) overcomplete {importlib.metadata.version('overcomplete')} TopKSAE in a plain torch loop: "
              f"normalised MSE only, no AuxK term, no decoder-gradient projection (its training-mode forward "
              f"renormalises the dictionary), b_pre fixed; torch on {torch.get_num_threads()} threads. "
              f"others: the CPU share other processes used during the timed round")
    else:
        print("\n1. skipped (--skip train); the dictionary below gets its training steps here")
        jax_steps(args.warmup + args.repeats * args.steps)

    if args.skip == "visualize":
        return
    trained = {key: np.asarray(v, np.float32) for key, v in jax.device_get(state["params"]).items()}
    dictionary = Dictionary(trained, MODEL, "", LAYER, k, {"steps": done})
    wrapped = jaxvis.with_dictionary(net, dictionary)
    f, s = args.features, args.vis_steps
    units = [(dictionary.blob, i) for i in range(f)]
    settings = dict(preset=args.preset, restarts=args.restarts, seed=0, steps=s)

    def batched():
        return jaxvis.visualize(wrapped, units, **settings)

    def one_by_one(which):
        return [jaxvis.visualize(wrapped, [u], **settings) for u in which]

    b_first, b_first_others, _ = timed(batched)
    b_warm, b_others, res = timed(batched)
    o_first, o_first_others, _ = timed(lambda: one_by_one(units[:1]))
    o_warm, o_others, singles = timed(lambda: one_by_one(units))
    single_values = np.concatenate([r.best_value for r in singles])
    diff = float(np.abs(res.best_value - single_values).max() / max(np.abs(single_values).max(), 1e-30))
    n_img = f * args.restarts
    print(f"\n2. visualize {f} features of {dictionary.blob} (jaxvis.with_dictionary of part 1's jaxvis SAE after "
          f"{done} training steps), preset {args.preset}, {args.restarts} restart(s), {s} steps, seed 0")
    print(f"{'':40s} {'first call':>10s} {'warm':>8s} {'feat-steps/s warm':>17s} {'others warm':>11s}")
    print(f"{'(a) batched: one visualize, F features':40s} {b_first:10.2f} {b_warm:8.2f} {n_img * s / b_warm:17.1f} "
          f"{pct(b_others):>11s}")
    print(f"{'(b) loop: F visualize calls, 1 each':40s} {o_first:10.2f} {o_warm:8.2f} {n_img * s / o_warm:17.1f} "
          f"{pct(o_others):>11s}")
    cold = o_first + o_warm * (f - 1) / f  # feature 0's first call, then the other F-1 calls at the warm rate
    print(f"b/a warm (above 1: batched faster): {o_warm / b_warm:.2f}; cold, compilation included ((b) estimated as "
          f"its first call + (F-1)/F of its warm loop, {cold:.2f} s, against (a)'s first call): {cold / b_first:.2f}")
    print(f"seconds. first call: (a) the batched call's compilation + run; (b) feature 0 alone, compilation + run "
          f"(every later call reuses that program). warm: (a) the batched call again; (b) the loop over all {f} "
          f"features. best values: batched mean {res.best_value.mean():.3f}, one-by-one mean "
          f"{single_values.mean():.3f}, largest difference {diff:.1e} of the largest |value|. "
          f"others: the CPU share other processes used meanwhile")


if __name__ == "__main__":
    main()

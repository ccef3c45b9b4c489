"""The quality scores ``jaxvis visualize`` gives every unit (``score_unit``),
from its visualizations, a set of scoring images and an independent network
(the *judge*, e.g. ``demo_b`` for ``demo``). The formulas are the pure
functions of :mod:`jaxvis.search.quality`; this module gathers their inputs.

- ``activation``: the best value of the best restart divided by the unit's
  strongest activation over the scoring images (``dataset_statistics``);
  None when no image activates the unit (its maximum is <= 0);
- ``transferability`` {fraction, mean_p} and ``plausibility`` (class units
  only, Fel et al. 2023): the fraction of the restarts the judge classifies as
  the unit's class and their mean probability of it; the mean cosine
  similarity of the restarts' judge features to those of the scoring images
  labelled with the class;
- ``mis_visualizations`` and ``mis_natural``: the machine forced-choice score
  (Borowski et al. 2021, Zimmermann et al. 2024) with the visualizations, and
  with the unit's top-9 dataset patches (the natural-examples baseline), as
  references (``machine_forced_choice_inputs`` says which images are used);
- ``diversity_pixels`` and ``diversity_features``: how much the restarts
  differ, in pixels (``jaxvis.search.scores.diversity``) and in the judge's
  feature space (``quality.feature_diversity``).

A score that cannot be computed (no judge, no scoring images, not a class
unit, too few images) is None.

What "the restarts" are: for a conv unit, each restart cropped to the unit's
receptive field (``field_crop``); for an fc unit the whole image. Pixels
outside the field cannot change the unit and keep their random start in the
pixel family's cropped ascent, so the whole image would count start noise as
diversity and as similarity; the crop is what the unit sees. Transferability
and plausibility (fc class units) use the whole image.

The judge's features are its *penultimate representation*: the blob just
before its class layer in forward order (``penultimate_layer``), flattened;
for the Caffe-family networks (demo_b, CaffeNet) that is ``relu7``, fc7
after its ReLU, the representation its classifier reads. Every image, of any
size (patches, crops), goes through the judge's own ``preprocess`` (which
resizes it to the judge's input) before the forward pass. The forced choice
may compare in another of the judge's blobs (``score_unit``'s ``mis_layer``,
the visualize job's ``config.mis_layer``). For mid-level units a mid-level
blob may be the fairer space: docs/feature_vis.md has the measurement.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxvis.analysis.topk import channel_maxima, patch
from jaxvis.errors import InputImageError, UnitError
from jaxvis.render.grids import field_crop
from jaxvis.search import quality, scores

BATCH = 64  # images per forward pass; the last batch is padded, so each network compiles once per input size
NATURAL = 9  # top dataset patches: the natural-examples baseline's references (ranks 1..9)
MIS_SEED = 0  # the forced-choice pairs' seed (quality.forced_choice_trials), the same for every unit

# The flat score names (``flat``): the gallery's columns and sort keys, in this order.
NAMES = ("activation", "transferability", "mean_p", "plausibility", "mis_visualizations", "mis_natural",
         "diversity_pixels", "diversity_features")
LABELS = {"activation": "activation", "transferability": "transferability", "mean_p": "mean p",
          "plausibility": "plausibility", "mis_visualizations": "MIS (visualizations)",
          "mis_natural": "MIS (top-9 patches)", "diversity_pixels": "diversity (pixels)",
          "diversity_features": "diversity (features)"}


@dataclasses.dataclass
class DatasetStatistics:
    """One layer's channels over N scoring images. ``values`` [N, C]: each
    image's value of the channel (for a conv layer its maximum over
    positions), at ``y``, ``x`` [N, C] (the first maximum in row-major order,
    numpy's argmax; 0 for fc layers). ``order`` [C, N]: the image indices of
    each channel from the strongest to the weakest (a stable sort of
    ``-values``: of equal values the earlier image comes first)."""

    values: np.ndarray
    y: np.ndarray
    x: np.ndarray
    order: np.ndarray

    @property
    def max(self) -> np.ndarray:
        """[C]: each channel's strongest activation over the images (and positions)."""
        return self.values.max(axis=0)

    def strongest(self, channel: int, k: int, skip: int = 0) -> np.ndarray:
        """The image indices of ranks skip+1 .. skip+k of ``channel`` (rank 1 the strongest)."""
        return self.order[channel, skip:skip + k]

    def weakest(self, channel: int, k: int) -> np.ndarray:
        """The image indices of the ``k`` weakest images of ``channel``, the weakest first."""
        return self.order[channel, ::-1][:k]


def _check_images(images, what: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or not len(arr):
        raise InputImageError(f"{what} expects uint8 images [N, H, W, 3] with N >= 1, got {arr.dtype} {arr.shape}")
    return arr


def _padded_batches(x: np.ndarray, batch: int = BATCH):
    """(a slice of up to ``batch`` rows of x, padded with copies of its first
    row to the next power of two >= 8 (at most ``batch``), its real row count):
    a network compiles for a few batch sizes only, and a small call stays small."""
    for lo in range(0, len(x), batch):
        part = x[lo:lo + batch]
        n = len(part)
        size = min(batch, max(8, 1 << (n - 1).bit_length()))
        if n < size:
            part = np.concatenate([part, np.repeat(part[:1], size - n, axis=0)])
        yield part, n


def dataset_statistics(net, layer: str, images) -> DatasetStatistics:
    """Every channel of ``layer`` over ``images`` [N, H, W, 3] uint8 (the
    network's input size; ``net.preprocess`` makes the input), in batches of
    ``BATCH`` (``jaxvis.analysis.topk.channel_maxima``: the blob's maximum over
    positions and where it is)."""
    images = _check_images(images, "dataset_statistics")
    net.layer(layer)  # UnitError naming the layers
    values, where = [], []
    for part, n in _padded_batches(images):
        v, loc = channel_maxima(net, net.preprocess(part), (layer,))[layer]
        values.append(v[:n])
        where.append(loc[:n])
    values, where = np.concatenate(values).astype(np.float32), np.concatenate(where)
    order = np.argsort(-values.T, axis=1, kind="stable")
    return DatasetStatistics(values, where[..., 0].astype(np.int32), where[..., 1].astype(np.int32), order)


def penultimate_layer(judge) -> str:
    """The blob just before the judge's class layer in forward order (what its
    classifier reads: ``relu7`` for the Caffe family), or a UnitError."""
    class_layer = judge.require("class_layer", "a judge's features")
    names = judge.layer_names
    i = names.index(class_layer)
    if i == 0:
        raise UnitError(f"judge {judge.name}: its class layer {class_layer!r} is its first blob; a judge needs a "
                        "representation before the class layer")
    return names[i - 1]


def mis_space(judge, mis_layer: str | None = None) -> str:
    """The judge's blob the forced choice compares in: ``mis_layer``, or its
    penultimate representation."""
    return mis_layer or penultimate_layer(judge)


def _as_groups(images) -> list[tuple[list[int], np.ndarray]]:
    """uint8 images (an [N, H, W, 3] array or a list of [H, W, 3] of any sizes)
    grouped by size: [(their positions, [n, H, W, 3])]."""
    if isinstance(images, np.ndarray):
        return [(list(range(len(_check_images(images, "judge_features")))), images)]
    items = [np.asarray(im) for im in images]
    if not items or any(im.ndim != 3 or im.shape[-1] != 3 or im.dtype != np.uint8 or 0 in im.shape for im in items):
        raise InputImageError("judge_features expects uint8 images [H, W, 3] (one or more), got "
                              + (", ".join(f"{im.dtype} {im.shape}" for im in items[:3]) or "none"))
    groups: dict[tuple, list[int]] = {}
    for i, im in enumerate(items):
        groups.setdefault(im.shape, []).append(i)
    return [(idx, np.stack([items[i] for i in idx])) for idx in groups.values()]


def judge_outputs(judge, images, layers=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({layer: features [N, D] float32, the judge's blob flattened} for each
    of ``layers`` (default: its penultimate one), probabilities [N, K]) of
    uint8 ``images`` (an array or a list of images of any sizes), each resized
    to the judge's input by its ``preprocess``; one forward pass for all."""
    layers = list(dict.fromkeys(layers or (penultimate_layer(judge),)))
    groups = _as_groups(images)
    feats: dict[str, list] = {layer: [] for layer in layers}
    probs: list = []
    for _, group in groups:
        for part, n in _padded_batches(judge.preprocess(group)):
            blobs = judge.blobs(part)
            for layer in layers:
                feats[layer].append(np.asarray(blobs[layer]).reshape(len(part), -1)[:n])
            probs.append(np.asarray(judge.probabilities(blobs))[:n])
    # Rows come group by group; put them back in the order of ``images``.
    order = np.argsort(np.concatenate([idx for idx, _ in groups]), kind="stable")
    return ({layer: np.concatenate(f)[order].astype(np.float32) for layer, f in feats.items()},
            np.concatenate(probs)[order].astype(np.float32))


def judge_features(judge, images, layer: str | None = None) -> np.ndarray:
    """[N, D] float32: the judge's blob ``layer`` (default: its penultimate
    representation) of uint8 ``images``, flattened (see ``judge_outputs``)."""
    layer = layer or penultimate_layer(judge)
    return judge_outputs(judge, images, (layer,))[0][layer]


def is_class_unit(net, layer: str, judge) -> bool:
    """Whether units of ``layer`` are classes the judge can score: the layer is
    ``net``'s class layer and the judge's class layer has as many units."""
    if judge is None or net.class_layer is None or layer != net.class_layer or judge.class_layer is None:
        return False
    return judge.layer(judge.class_layer).channels == net.layer(layer).channels


def unit_patch(net, layer: str, image: np.ndarray, y: int, x: int) -> np.ndarray:
    """The receptive field of unit (y, x) of ``layer`` in a scoring image
    (``jaxvis.analysis.topk.patch``: grey where it leaves the image); the whole
    image for an fc layer."""
    return patch(image, net.layer(layer), int(y), int(x))


def restart_views(net, layer: str, restart_images, y, x) -> list[np.ndarray]:
    """The restarts as the scores see them: each cropped to the receptive
    field of unit (y, x) (``field_crop``; y None or an fc layer: the whole image)."""
    info = net.layer(layer)
    at = (None, None) if not info.spatial or y is None else (int(y), int(x))
    return [np.ascontiguousarray(field_crop(im, info, *at)) for im in np.asarray(restart_images)]


def forced_choice_pools(stats: DatasetStatistics, channel: int, trials: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(strong pool, weak pool) of image indices for ``channel``'s forced-choice
    queries: ranks 10 .. 9+T (below the top-9 references, so no query is a
    reference) and the T weakest images, with T = min(trials, (N - 9) // 2) so
    that the two pools never share an image; None when T < 1."""
    n = stats.values.shape[0]
    t = min(int(trials), (n - NATURAL) // 2)
    if t < 1:
        return None
    return stats.strongest(channel, t, skip=NATURAL), stats.weakest(channel, t)


def _none_if_nan(v):
    return None if v is None or not np.isfinite(v) else float(v)


def score_unit(net, layer: str, channel: int, y, x, restart_images, best_value, *, judge=None,
               images=None, labels=None, stats: DatasetStatistics | None = None, mis_trials: int = 40,
               mis_layer: str | None = None) -> dict:
    """The scores of unit (layer, channel) at (y, x) (None for fc units) of
    ``net``, as a JSON-able dict (keys: activation, transferability,
    plausibility, mis_visualizations, mis_natural, diversity_pixels,
    diversity_features; the module doc says what each is).

    restart_images [R, H, W, 3] uint8 and best_value [R]: the unit's
    visualizations (``VisResult.images[u]``, ``best_value[u]``). judge: the
    independent network or None. images [N, H, W, 3] uint8 at ``net``'s input
    size with their class ``labels`` [N] (or None), and their ``stats`` for
    this layer (``dataset_statistics``): the scoring images, or None.
    mis_trials: forced-choice trials (pairs drawn by
    ``quality.forced_choice_trials`` with seed ``MIS_SEED`` from the pools of
    ``forced_choice_pools``). mis_layer: the judge's blob the forced choice
    compares in (default: its penultimate representation, as every other
    score)."""
    restart_images = _check_images(restart_images, "score_unit")
    best_value = np.asarray(best_value, np.float64)
    have_data = images is not None and stats is not None
    out = {"activation": None, "transferability": None, "plausibility": None, "mis_visualizations": None,
           "mis_natural": None, "diversity_pixels": None, "diversity_features": None}
    finite = best_value[np.isfinite(best_value)]  # a restart that failed (non-finite) does not count
    if have_data and finite.size:
        out["activation"] = _none_if_nan(quality.relative_to_dataset(finite.max(), stats.max[channel]))
    views = restart_views(net, layer, restart_images, y, x)
    same_size = len({v.shape for v in views}) == 1
    out["diversity_pixels"] = scores.diversity(np.stack(views)) if same_size else None
    if judge is None:
        return out
    penultimate, space = penultimate_layer(judge), mis_space(judge, mis_layer)
    view_features, view_probs = judge_outputs(judge, views, (penultimate, space))
    out["diversity_features"] = quality.feature_diversity(view_features[penultimate])
    if is_class_unit(net, layer, judge):
        # The whole images; a view as large as its restart is the restart itself (field_crop clips).
        uncropped = all(v.shape == restart_images.shape[1:] for v in views)
        whole, probs = (view_features, view_probs) if uncropped else judge_outputs(judge, restart_images)
        feats = whole[penultimate]
        out["transferability"] = quality.transferability(probs, int(channel))
        if labels is not None and images is not None:
            real = np.flatnonzero(np.asarray(labels) == channel)
            if real.size:
                out["plausibility"] = quality.plausibility(feats, judge_features(judge, images[real]))
    pools = forced_choice_pools(stats, channel, mis_trials) if have_data else None
    if pools is not None:
        def patches(ids):
            return [unit_patch(net, layer, images[i], stats.y[i, channel], stats.x[i, channel]) for i in ids]

        strong, weak = pools
        natural = stats.strongest(channel, NATURAL)
        feats = judge_features(judge, patches([*natural, *strong, *weak]), space)
        natural_f, strong_f, weak_f = np.split(feats, [len(natural), len(natural) + len(strong)])
        pairs = quality.forced_choice_trials(len(strong), len(weak), int(mis_trials), MIS_SEED)
        strong_f, weak_f = strong_f[pairs[:, 0]], weak_f[pairs[:, 1]]
        out["mis_visualizations"] = quality.machine_forced_choice(view_features[space], strong_f, weak_f)
        out["mis_natural"] = quality.machine_forced_choice(natural_f, strong_f, weak_f)
    return out


def flat(unit_scores: dict | None) -> dict:
    """{name: float or None} for every name of ``NAMES`` (transferability is
    its fraction, mean_p its mean probability); all None without scores."""
    s = unit_scores or {}
    t = s.get("transferability") or {}
    values = {**{k: s.get(k) for k in NAMES}, "transferability": t.get("fraction"), "mean_p": t.get("mean_p")}
    return {k: values[k] for k in NAMES}

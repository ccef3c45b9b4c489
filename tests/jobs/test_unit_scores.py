"""The visualize job's unit scores (jaxvis/jobs/unit_scores.py) against
independent computations: one image at a time through ``net.blobs``, the
judge's probabilities and features called directly, cosines by loops."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

import jaxvis
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.analysis.topk import patch
from jaxvis.errors import ConfigError, InputImageError, UnitError, UnknownModelError
from jaxvis.jobs import unit_scores as us
from jaxvis.jobs import visualize_job
from jaxvis.search import quality

N = 70  # not a multiple of the batch: the padded last batch is covered


@pytest.fixture(scope="module")
def world():
    images, _, labels = GeneratedImages(2, N).labelled_batch(0, N)
    return images, labels


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("demo", weights="random")


@pytest.fixture(scope="module")
def judge():
    return jaxvis.load_model("demo_b")


def _loop_values(net, layer, images):
    """Per image (one net.blobs call each): each channel's max over positions and where (first in row-major order)."""
    values, where = [], []
    for img in images:
        b = np.asarray(net.blobs(net.preprocess(img[None]), until=layer)[layer])[0]
        if b.ndim == 1:
            values.append(b)
            where.append(np.zeros((b.shape[0], 2), int))
            continue
        flat = b.reshape(-1, b.shape[-1])
        arg = flat.argmax(axis=0)
        values.append(flat.max(axis=0))
        where.append(np.stack([arg // b.shape[1], arg % b.shape[1]], axis=-1))
    return np.stack(values), np.stack(where)


@pytest.mark.parametrize("layer", ["conv3", "fc8"])
def test_dataset_statistics_match_one_image_at_a_time(net, world, layer):
    images, _ = world
    stats = us.dataset_statistics(net, layer, images)
    values, where = _loop_values(net, layer, images)
    np.testing.assert_allclose(stats.values, values, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.max, values.max(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(stats.y, where[..., 0])
    np.testing.assert_array_equal(stats.x, where[..., 1])
    for c in range(values.shape[1]):
        ranked = sorted(range(N), key=lambda i: -values[i, c])  # python's sort is stable
        assert list(stats.strongest(c, 5)) == ranked[:5]
        assert list(stats.strongest(c, 3, skip=9)) == ranked[9:12]
        assert list(stats.weakest(c, 4)) == ranked[::-1][:4]


def test_judge_features_are_its_penultimate_blob_of_any_size(judge, world):
    assert us.penultimate_layer(judge) == "relu7"  # fc7 after its ReLU: what demo_b's fc8 reads
    images, _ = world
    mixed = [images[0], images[1][5:48, 10:53], images[2], images[3][:20, :31]]
    feats = us.judge_features(judge, mixed)
    assert feats.shape == (4, 192)
    for img, f in zip(mixed, feats):
        direct = np.asarray(judge.blobs(judge.preprocess(img[None]))["relu7"])[0]
        np.testing.assert_allclose(f, direct, rtol=1e-4, atol=1e-5)
    # Several blobs and the probabilities from one pass, each row in the order of the images.
    outs, probs = us.judge_outputs(judge, mixed, ("relu7", "pool5"))
    for i, img in enumerate(mixed):
        blobs = judge.blobs(judge.preprocess(img[None]))
        np.testing.assert_allclose(outs["relu7"][i], feats[i], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(outs["pool5"][i], np.asarray(blobs["pool5"]).ravel(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(probs[i], np.asarray(judge.probabilities(blobs))[0], rtol=1e-4, atol=1e-6)
    with pytest.raises(InputImageError, match="uint8"):
        us.judge_features(judge, [images[0].astype(np.float32)])
    with pytest.raises(InputImageError, match="uint8 images"):
        us.dataset_statistics(jaxvis.load_model("demo", weights="random"), "conv1", images[0])


def _cos_mean(a, b):
    return np.mean([[x @ y / np.linalg.norm(x) / np.linalg.norm(y) for y in b] for x in a])


def test_class_unit_scores_against_the_judge_called_directly(net, judge, world):
    """fc8 unit c of demo: transferability from demo_b's probabilities of the
    restarts, plausibility from loops over its relu7 features of the restarts
    and of the scoring images labelled c, activation from the stats."""
    images, labels = world
    stats = us.dataset_statistics(net, "fc8", images)
    c = int(labels[0])
    restarts = images[np.flatnonzero(labels == c)[:3]]  # real class images as "visualizations": the judge agrees
    restarts = np.concatenate([restarts, images[np.flatnonzero(labels != c)[:1]]])
    best = np.array([0.5, 2.0, -1.0, 0.25])
    s = us.score_unit(net, "fc8", c, None, None, restarts, best, judge=judge, images=images, labels=labels,
                      stats=stats, mis_trials=12)
    probs = np.asarray(judge.probabilities(judge.blobs(judge.preprocess(restarts))))
    assert s["transferability"]["fraction"] == pytest.approx(np.mean(probs.argmax(axis=1) == c))
    assert s["transferability"]["mean_p"] == pytest.approx(probs[:, c].mean(), rel=1e-5)
    assert 0 < s["transferability"]["fraction"] < 1
    feats = np.asarray(judge.blobs(judge.preprocess(restarts))["relu7"], np.float64)
    real = np.asarray(judge.blobs(judge.preprocess(images[labels == c]))["relu7"], np.float64)
    assert s["plausibility"] == pytest.approx(_cos_mean(feats, real), rel=1e-4)
    assert s["activation"] == pytest.approx(2.0 / _loop_values(net, "fc8", images)[0][:, c].max(), rel=1e-4)
    gram = [feats[a] @ feats[b] / np.linalg.norm(feats[a]) / np.linalg.norm(feats[b])
            for a in range(4) for b in range(a + 1, 4)]
    assert s["diversity_features"] == pytest.approx(1 - np.mean(gram), rel=1e-4, abs=1e-6)
    pix = restarts.astype(np.float64) / 255
    assert s["diversity_pixels"] == pytest.approx(np.mean([np.sqrt(np.mean((pix[a] - pix[b]) ** 2))
                                                           for a in range(4) for b in range(a + 1, 4)]))
    flat = us.flat(s)
    assert list(flat) == list(us.NAMES) and flat["mean_p"] == s["transferability"]["mean_p"]


@pytest.mark.parametrize("mis_layer", [None, "relu4"])
def test_forced_choice_uses_the_documented_images(net, judge, world, mis_layer):
    """A conv unit: references are the restarts cropped to its field, or the
    top-9 patches (ranks 1..9); queries the patches of ranks 10..9+T against
    the T weakest, T = min(trials, (N - 9) // 2), paired by forced_choice_trials(seed 0);
    similarity in the judge's relu7 by default, or in the blob ``mis_layer`` names."""
    images, labels = world
    layer, c, y, x = "conv5", 7, 8, 8
    info = net.layer(layer)
    stats = us.dataset_statistics(net, layer, images)
    values, where = _loop_values(net, layer, images)
    ranked = sorted(range(N), key=lambda i: -values[i, c])
    trials = 50
    t = min(trials, (N - 9) // 2)
    assert t == 30

    def feats(pictures):
        return np.stack([np.asarray(judge.blobs(judge.preprocess(p[None]))[mis_layer or "relu7"], np.float64)[0]
                         .ravel() for p in pictures])

    def patches(ids):
        return [patch(images[i], info, *where[i, c]) for i in ids]

    strong, weak = feats(patches(ranked[9:9 + t])), feats(patches(ranked[::-1][:t]))
    natural = feats(patches(ranked[:9]))
    restarts = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    # conv5's field: 43 px, stride 4; unit 8's centre is pixel 3 + 8 * 4 (pool1 shifts by 1, pool2 by 2 more)
    y0 = 3 + 8 * 4 - 21
    crops = restarts[:, y0:y0 + 43, y0:y0 + 43]
    pairs = quality.forced_choice_trials(t, t, trials, 0)

    def mis(refs):
        wins = []
        for a, b in pairs:
            ss, sw = _cos_mean(strong[a:a + 1], refs), _cos_mean(weak[b:b + 1], refs)
            wins.append(1.0 if ss > sw else 0.0 if ss < sw else 0.5)
        return np.mean(wins)

    s = us.score_unit(net, layer, c, y, x, restarts, [1.0, 2.0, 3.0], judge=judge, images=images, labels=labels,
                      stats=stats, mis_trials=trials, mis_layer=mis_layer)
    assert s["mis_natural"] == pytest.approx(mis(natural))
    assert s["mis_visualizations"] == pytest.approx(mis(feats(crops)))
    assert s["transferability"] is None and s["plausibility"] is None  # not a class unit
    pix = crops.astype(np.float64) / 255
    assert s["diversity_pixels"] == pytest.approx(np.mean([np.sqrt(np.mean((pix[a] - pix[b]) ** 2))
                                                           for a in range(3) for b in range(a + 1, 3)]))


def test_scores_without_judge_or_data_are_none(net, world):
    images, labels = world
    stats = us.dataset_statistics(net, "fc8", images)
    restarts = images[:2]
    c = int(np.argmax(stats.max))  # a unit some image activates (> 0)
    s = us.score_unit(net, "fc8", c, None, None, restarts, [1.0, 0.5], images=images, labels=labels, stats=stats)
    assert s["activation"] == pytest.approx(1.0 / stats.max[c])
    assert s["activation"] is not None and s["diversity_pixels"] is not None
    assert all(s[k] is None for k in ("transferability", "plausibility", "mis_visualizations", "mis_natural",
                                      "diversity_features"))
    s = us.score_unit(net, "fc8", c, None, None, restarts, [1.0, 0.5])
    assert s["activation"] is None and s["mis_natural"] is None
    few = us.dataset_statistics(net, "fc8", images[:10])  # 9 references leave no query pair
    s = us.score_unit(net, "fc8", int(np.argmax(few.max)), None, None, restarts, [1.0, 0.5], images=images[:10],
                      stats=few)
    assert s["mis_natural"] is None and s["activation"] is not None


def test_scoring_images_demo_world_folder_or_none(net, tmp_path):
    config = visualize_job.job_config(model="demo", score_images=5, score_seed=3)
    images, labels, what = visualize_job.scoring_images(net, config)
    expected, _, expected_labels = GeneratedImages(3, 5).labelled_batch(0, 5)
    np.testing.assert_array_equal(images, expected)
    np.testing.assert_array_equal(labels, expected_labels)
    assert "seed 3" in what
    other = dataclasses.replace(net, spec=dataclasses.replace(net.spec, class_names=("cat", "dog")))
    assert visualize_job.scoring_images(other, config)[:2] == (None, None)
    assert "config.score_folder is empty" in visualize_job.scoring_images(other, config)[2]
    for i in range(3):
        Image.fromarray(expected[i]).save(tmp_path / f"im{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    config.score_folder = str(tmp_path)
    with pytest.warns(UserWarning, match="broken.png"):
        images, labels, what = visualize_job.scoring_images(other, config)
    assert images.shape == (3, 64, 64, 3) and labels is None and "1 that do not decode" in what


@pytest.mark.parametrize("field,value,error,message", [
    ("score_images", -1, ConfigError, "config.score_images: -1 is not an integer >= 0"),
    ("mis_trials", 0, ConfigError, "config.mis_trials: 0 is not an integer >= 1"),
    ("score_seed", -1, ConfigError, "config.score_seed: -1 is not an integer >= 0"),
    ("judge", "demo_c", UnknownModelError, "config.judge"),
    ("score_folder", "/no/such/folder", ConfigError, "config.score_folder: folder '/no/such/folder' does not exist"),
    ("mis_layer", "relu9", ConfigError,
     "config.mis_layer: 'relu9' names a layer of the judge, but config.judge is empty"),
])
def test_config_errors_name_the_field(field, value, error, message):
    config = visualize_job.job_config(model="demo")
    config[field] = value
    with pytest.raises(error, match=message.replace("(", r"\(")):
        visualize_job.check_config(config)


def test_mis_layer_must_be_a_layer_of_the_judge():
    config = visualize_job.job_config(model="demo", judge="demo_b", mis_layer="relu9")
    with pytest.raises(UnitError, match="config.mis_layer: demo_b has no layer 'relu9'"):
        visualize_job.check_config(config)
    config.mis_layer = "relu4"
    visualize_job.check_config(config)


def test_unit_patch_is_the_topk_patch(net, world):
    images, _ = world
    info = net.layer("conv2")
    np.testing.assert_array_equal(us.unit_patch(net, "conv2", images[0], 0, 31), patch(images[0], info, 0, 31))
    assert us.unit_patch(net, "fc8", images[0], 0, 0).shape == (64, 64, 3)

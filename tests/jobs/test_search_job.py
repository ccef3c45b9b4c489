"""``jaxvis search`` end to end on a small config: the files and the review
gallery's links, the scores recomputed from the written images, Table 1's
row 3 in the search equal to ``jaxvis.visualize`` with row 3, the
exported preset file reproducing its combination through ``visualize``, and
two processes giving the files of one."""

import itertools
import json
import os
import re

import numpy as np
import pytest

import jaxvis
from configs import search as search_config
from jaxvis.errors import JaxvisError, UnitError
from jaxvis.jobs import gallery
from jaxvis.jobs.search_job import run_search
from jaxvis.optimize.presets import preset
from tests.jobs import job_files

PROBES = ("fc8:2", "conv5:1")
NAMES = ("fc8-0002-0-0", "conv5-0001-8-8")
SMALL = {"probes": PROBES, "combinations": 4, "steps": 4, "restarts": 2, "combos_per_chunk": 4, "export_top": 2,
         "holdout_restarts": 2}  # small_config's changes to configs/search.py
FIRST_RUN: dict = {}  # the fixture's files (path: sha256) before any test re-exports, and its presets.py


def small_config():
    c = search_config.get_config()
    c.update(SMALL)
    return c


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("search") / "run")
    info = run_search(small_config(), workdir)
    FIRST_RUN.update(files=job_files.tree(workdir), presets=job_files.text(workdir, "presets.py"))
    with open(os.path.join(workdir, "scores.json")) as f:
        return workdir, info, json.load(f)


def _png(workdir, combo, probe, r):
    return gallery.read_png(os.path.join(workdir, "combos", combo, f"{probe}-r{r}.png"))


def test_files_and_gallery_links(searched):
    workdir, info, table = searched
    ids = ["row1", "row2", "row3", "row4"] + [f"c{i:03d}" for i in range(4)]
    assert [r["id"] for r in table] == ids and info["chunks_run"] == 2  # two batches of the same shape
    for combo, probe, r in itertools.product(ids, NAMES, range(2)):
        assert os.path.isfile(os.path.join(workdir, "combos", combo, f"{probe}-r{r}.png"))
    pages = [os.path.relpath(os.path.join(d, n), workdir) for d, _, ns in os.walk(workdir) for n in ns
             if n.endswith(".html")]
    assert len(pages) == 1 + len(ids) + len(NAMES)
    for page in pages:
        with open(os.path.join(workdir, page)) as f:
            text = f.read()
        links = re.findall(r"(?:href|src)='([^']+)'", text)
        assert links, page
        for link in links:
            assert not link.startswith(("/", "http")), (page, link)
            target, _, anchor = link.partition("#")
            target = os.path.normpath(os.path.join(workdir, os.path.dirname(page), target))
            assert os.path.isfile(target), (page, link)
            if anchor:
                with open(target) as f:
                    assert f"id='{anchor}'" in f.read(), (page, link)
    with open(os.path.join(workdir, "probes", NAMES[0], "index.html")) as f:
        text = f.read()
    assert all(f"alt='{i}'" in text for i in ids)  # every combination on the probe's page


def test_scores_recomputed_from_the_images(searched):
    workdir, _, table = searched
    judge = jaxvis.load_model("demo_b")
    best = np.array([[max(json.load(open(os.path.join(workdir, "combos", r["id"], "meta.json")))["probes"][p]
                          ["best_value"]) for p in range(2)] for r in table])
    for i, row in enumerate(table):
        relative = best[i] / np.abs(best).max(axis=0)
        assert row["activation"] == pytest.approx(relative.mean(), rel=1e-6)
        a, b = (_png(workdir, row["id"], NAMES[1], r).astype(np.float64) / 255 for r in range(2))
        div_conv5 = np.sqrt(((a - b) ** 2).mean())
        assert row["probes"][1]["diversity"] == pytest.approx(div_conv5, rel=1e-6)
        images = np.stack([_png(workdir, row["id"], NAMES[0], r) for r in range(2)])
        p = np.asarray(judge.blobs(judge.preprocess(images))["prob"])[:, 2].mean()
        assert row["recognisability"] == pytest.approx(p, rel=1e-4, abs=1e-6)  # only fc8 is a class probe
        assert row["probes"][1]["recognisability"] is None


def test_reference_row3_equals_visualize_with_row3(searched):
    """The search batches 4 combinations x 2 probes x 2 restarts per layer; visualize runs
    one unit. Same seeds and settings: same images up to float rounding (one grey level)."""
    workdir, _, _ = searched
    net = jaxvis.load_model("demo")
    res = jaxvis.visualize(net, [("fc8", 2), ("conv5", 1)], preset="row3", restarts=2, seed=0, steps=4)
    meta = json.load(open(os.path.join(workdir, "combos", "row3", "meta.json")))
    for u, probe in enumerate(NAMES):
        np.testing.assert_allclose(meta["probes"][u]["best_value"], res.best_value[u], rtol=1e-4)
        for r in range(2):
            diff = np.abs(_png(workdir, "row3", probe, r).astype(int) - res.images[u, r].astype(int))
            assert diff.max() <= 1, (probe, r)


def test_exported_presets_reproduce_their_combination(searched):
    workdir, info, table = searched
    path = os.path.join(workdir, "presets.py")
    ranked = sorted((r for r in table if r["kind"] == "sampled"), key=lambda r: -r["recognisability"])
    assert info["chosen"] == [r["id"] for r in ranked[:2]]  # distinct settings: sampled ones always are here
    combo = info["chosen"][0]
    net = jaxvis.load_model("demo")
    res = jaxvis.visualize(net, [("fc8", 2)], preset=f"{path}:{combo}", restarts=2, seed=0)
    assert res.theta["steps"] == 4
    settings = next(r["settings"] for r in table if r["id"] == combo)
    for k in ("decay", "blur_width", "blur_every", "norm_pct", "contrib_pct"):
        assert res.theta[k] == settings[k]
    for r in range(2):
        assert np.abs(_png(workdir, combo, NAMES[0], r).astype(int) - res.images[0, r].astype(int)).max() <= 1


def test_holdout_is_visualize_with_new_restarts_judged_on_every_class(searched):
    """Each exported combination re-run on all 10 class units with the restarts
    of seed 1: its images are ``visualize`` with that preset and seed, and its
    score is demo_b's mean probability of the class on them, recomputed."""
    workdir, info, table = searched
    with open(os.path.join(workdir, "holdout.json")) as f:
        holdout = json.load(f)
    assert sorted(holdout) == sorted(info["chosen"]) and len(holdout) == 2
    judge = jaxvis.load_model("demo_b")
    for combo, h in holdout.items():
        assert (h["restarts"], h["seed"], len(h["units"])) == (2, 1, 10)
        images = np.stack([gallery.read_png(os.path.join(workdir, "combos", combo, "holdout", f"fc8-{c:04d}-r{r}.png"))
                           for c in range(10) for r in range(2)])
        p = np.asarray(judge.blobs(judge.preprocess(images))["prob"])[np.arange(20), np.repeat(np.arange(10), 2)]
        assert h["recognisability"] == pytest.approx(p.mean(), rel=1e-4, abs=1e-6)
        np.testing.assert_allclose(h["per_unit"], p.reshape(10, 2).mean(axis=1), rtol=1e-4, atol=1e-6)
        assert info["holdout"][combo] == h["recognisability"]
    combo = info["chosen"][0]
    res = jaxvis.visualize(jaxvis.load_model("demo"), [("fc8", 2)], preset=f"{workdir}/presets.py:{combo}",
                           restarts=2, seed=1)
    for r in range(2):
        held = gallery.read_png(os.path.join(workdir, "combos", combo, "holdout", f"fc8-0002-r{r}.png"))
        assert np.abs(held.astype(int) - res.images[0, r].astype(int)).max() <= 1
        assert not np.array_equal(held, _png(workdir, combo, NAMES[0], r))  # not the search's restart
    with open(os.path.join(workdir, "presets.py")) as f:
        text = f.read()
    assert f"{holdout[combo]['recognisability']:.3f} held out (10 class units x 2 new restarts, seed 1)" in text
    with open(os.path.join(workdir, "index.html")) as f:
        assert "Exported presets, held out" in f.read()
    with open(os.path.join(workdir, "combos", combo, "index.html")) as f:
        assert "fc8-0002 (square)" in f.read()  # class units named on the held-out images


def test_two_processes_give_the_one_process_files(searched, tmp_path):
    """Two processes joined by jax.distributed on localhost: each runs its own
    chunks, then every process reads all the records, picks the same exports
    and runs its share of their held-out records; process 0 writes the
    gallery. The files are those of one process."""
    workdir = str(tmp_path / "two")
    outs = job_files.run_two_processes(job_files.cli("search", "configs/search.py", workdir,
                                                      *(f"--config.{k}={v!r}" for k, v in SMALL.items())))
    assert all("(1 chunks run, 0 already done)" in out for out in outs)  # 2 chunks: one each
    job_files.same_files(workdir, FIRST_RUN["files"], unequal=("presets.py",))
    # presets.py names its own workdir in its docstring; otherwise the same text
    assert job_files.text(workdir, "presets.py") == FIRST_RUN["presets"].replace(searched[0], workdir)


def test_rerun_resumes_and_exports_by_hand(searched):
    workdir, _, _ = searched
    c = small_config()
    c.export = ("c003", "row2")  # may change between runs: only the export is redone
    again = run_search(c, workdir)
    assert (again["chunks_run"], again["chunks_skipped"], again["chosen"]) == (0, 2, ["c003", "row2"])
    assert sorted(again["holdout"]) == ["c003", "row2"]  # the new exports' held-out check
    record = os.path.join(workdir, "chunks", "holdout-row2-r2.json")
    before = os.path.getmtime(record)
    assert run_search(c, workdir)["holdout"] == again["holdout"]  # resumed: no held-out run repeated
    assert os.path.getmtime(record) == before
    assert preset(os.path.join(workdir, "presets.py:row2")).norm_pct == 20.0
    c.seed = 1
    with pytest.raises(JaxvisError, match="different config.*seed: 0 -> 1"):
        run_search(c, workdir)
    c.seed, c.export = 0, ("c999",)
    with pytest.raises(JaxvisError, match="unknown combinations"):
        run_search(c, workdir)


@pytest.mark.parametrize("field,value,match", [
    ("probes", ("fc8",), "a probe is 'layer:channel'"),
    ("probes", (), "config.probes is empty"),
])
def test_bad_probes(tmp_path, field, value, match):
    c = small_config()
    setattr(c, field, value)
    with pytest.raises(JaxvisError, match=match):
        run_search(c, str(tmp_path / "w"))


def test_probe_out_of_range(tmp_path):
    c = small_config()
    c.probes = ("fc8:10",)
    with pytest.raises(UnitError, match="channels 0..9"):
        run_search(c, str(tmp_path / "w"))


def test_preset_file_errors_name_the_file_and_the_preset(searched, tmp_path):
    path = os.path.join(searched[0], "presets.py")
    with pytest.raises(JaxvisError, match="has no preset 'c999'"):
        preset(f"{path}:c999")
    with pytest.raises(JaxvisError, match="preset file .*nowhere.py does not exist"):
        preset(str(tmp_path / "nowhere.py:c000"))


def test_search_over_families_runs_them_in_one_batch_and_ranks_them(tmp_path):
    c = small_config()
    c.families, c.combinations, c.references, c.steps, c.combos_per_chunk = ("pixel", "fourier", "maco"), 6, False, 2, 6
    c.holdout_restarts = 0  # off: checked above
    workdir = str(tmp_path / "families")
    info = run_search(c, workdir)
    assert info["chunks_run"] == 1
    with open(os.path.join(workdir, "combinations.json")) as f:
        drawn = {combo["id"]: combo["settings"]["family"] for combo in json.load(f)}
    assert set(drawn.values()) == {"pixel", "fourier", "maco"}  # seed 0 draws all three in six
    with open(os.path.join(workdir, "families.json")) as f:
        ranked = json.load(f)
    assert sorted(r["family"] for r in ranked) == ["fourier", "maco", "pixel"]
    assert sum(r["combinations"] for r in ranked) == 6
    with open(os.path.join(workdir, "index.html")) as f:
        assert "Image families, ranked" in f.read()
    for combo_id, family in drawn.items():
        with open(os.path.join(workdir, "combos", combo_id, "meta.json")) as f:
            assert json.load(f)["settings"]["family"] == family

"""The report's CIDEr relaxation: the clip matrix, its percentiles, r(c), and Figure 2."""

import numpy as np
import pytest
import torch

from bench_plugins.datasets.synthetic import clip_captions, clip_spec
from bench_plugins.losses.cider import cider_d, tokenize
from bench_plugins.losses.plots import relax_curve, report_relax
from bench_plugins.losses.relax import CiderCache, clip_cider, percentiles, relax
from benchmark.errors import BenchError


def test_clip_matrix_is_the_symmetrised_mean_over_a_clips_captions():
    captions = [clip_captions(clip_spec(1, "development", i, 16000, 1, 2), 5) for i in range(10)]
    matrix = clip_cider(captions)
    tokens = [[tokenize(c) for c in clip] for clip in captions]
    per_caption = cider_d([t for clip in tokens for t in clip], tokens)
    one_way = per_caption[5:10, 7].mean()  # captions of clip 1 against clip 7's references
    other_way = per_caption[35:40, 1].mean()
    assert matrix[1, 7] == pytest.approx((one_way + other_way) / 2, rel=1e-6)
    np.testing.assert_array_equal(matrix, matrix.T)


def test_every_entry_of_the_clip_matrix_follows_the_definition():
    # Clips with 1 to 3 captions: c_ij is the mean over i's captions against j's references.
    captions = [clip_captions(clip_spec(4, "development", i, 16000, 1, 2), 1 + i % 3) for i in range(7)]
    tokens = [[tokenize(c) for c in clip] for clip in captions]
    per_caption = cider_d([t for clip in tokens for t in clip], tokens)
    starts = np.cumsum([0] + [len(clip) for clip in tokens])
    one_way = np.array([per_caption[starts[i] : starts[i + 1]].mean(axis=0) for i in range(7)])
    np.testing.assert_allclose(clip_cider(captions), (one_way + one_way.T) / 2, rtol=1e-6)


def test_captions_empty_after_tokenisation_are_named():
    with pytest.raises(BenchError, match=r"caption 2 of clip 1 \('\.\.\. !'\) is empty after tokenisation"):
        clip_cider([["a dog barks"], ["a cat", "... !"]])


def test_percentiles_need_enough_clip_pairs():
    assert percentiles(np.zeros((15, 15)), [80, 90, 99]) == [0.0, 0.0, 0.0]
    with pytest.raises(BenchError, match="14 clips \\(91 distinct pairs\\).*at least 100 pairs"):
        percentiles(np.zeros((14, 14)), [80, 90, 99])


def test_relax_is_the_reports_piecewise_linear_function():
    c80, c90, c99 = 1.0, 2.0, 4.0
    c = torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 9.0])
    r = relax(c, [c80, c90, c99], [1.0, 0.7, 0.4])
    assert r.tolist() == pytest.approx([1.0, 1.0, 0.85, 0.7, 0.55, 0.4, 0.4])
    assert relax(np.array([0.5, 3.0]), [c80, c90, c99], [1.0, 0.7, 0.4]).tolist() == pytest.approx([1.0, 0.55])


def test_equal_thresholds_make_a_step_taken_at_the_threshold():
    r = relax(np.array([1.9, 2.0, 2.1]), [1.0, 2.0, 2.0], [1.0, 0.7, 0.4])
    assert r.tolist() == pytest.approx([0.73, 0.4, 0.4])


def test_the_cache_tells_caption_sets_apart(tmp_path):
    cache = CiderCache(tmp_path)
    first = [clip_captions(clip_spec(5, "development", i, 16000, 1, 2), 2) for i in range(16)]
    second = [clip_captions(clip_spec(6, "development", i, 16000, 1, 2), 2) for i in range(16)]
    np.testing.assert_array_equal(cache.matrix(first), clip_cider(first))
    np.testing.assert_array_equal(cache.matrix(second), clip_cider(second))  # not the first set's
    assert cache.percentiles(second, [80, 90, 99]) == percentiles(clip_cider(second), [80, 90, 99])


def test_matrices_and_percentiles_are_cached(tmp_path):
    captions = [clip_captions(clip_spec(2, "development", i, 16000, 1, 2), 5) for i in range(16)]
    cache = CiderCache(tmp_path)
    first = cache.percentiles(captions, [80, 90, 99])
    assert len(list(tmp_path.rglob("clip_vectors.npz"))) == 1 and len(list(tmp_path.rglob("percentiles-*.json"))) == 1
    assert not list(tmp_path.rglob("clip_cider.npy"))  # the n x n matrix is never stored for the loss
    assert cache.percentiles(captions, [80, 90, 99]) == first
    assert cache.estimate(captions, [80, 90, 99]).method == "exact"
    np.testing.assert_array_equal(cache.pairs(captions).matrix(), clip_cider(captions))  # read back from disk
    assert first[0] <= first[1] <= first[2]


def test_figure_2_draws_the_reports_relax_function_at_the_training_percentiles(tmp_path):
    settings = report_relax()  # the reference system's, which the loss uses too
    assert settings == {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]}  # the report, section 4
    captions = [clip_captions(clip_spec(3, "development", i, 16000, 1, 2), 5) for i in range(20)]
    curve = relax_curve(captions, tmp_path, settings)
    assert len(curve["pairs"]) == 20 * 19 // 2
    assert curve["thresholds"] == pytest.approx(np.percentile(curve["pairs"], [80, 90, 99]).tolist())
    at_thresholds = relax(np.array(curve["thresholds"]), curve["thresholds"], settings["values"])
    assert at_thresholds.tolist() == pytest.approx([1.0, 0.7, 0.4])
    assert curve["r"][0] == 1.0 and curve["r"][-1] == pytest.approx(0.4) and np.all(np.diff(curve["r"]) <= 1e-12)

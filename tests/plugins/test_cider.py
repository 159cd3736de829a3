"""CIDEr-D against pycocoevalcap (the oracle), the clip matrix, percentiles and relax."""

import numpy as np
import pytest
import torch
from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_test

from bench_plugins.datasets.synthetic import clip_captions, clip_spec
from bench_plugins.losses.cider import cider_d, tokenize
from bench_plugins.losses.relax import CiderCache, clip_cider, percentiles, relax
from benchmark.errors import BenchError


def oracle(hypotheses, references):
    """pycocoevalcap's CiderScorer, every hypothesis against every clip, df over the clips."""
    scorer = CiderScorer(n=4, sigma=6.0)
    for refs in references:
        scorer += (hypotheses[0], refs)
    scorer.compute_doc_freq()
    out = np.zeros((len(hypotheses), len(references)))
    for row, hypothesis in enumerate(hypotheses):
        scorer.ctest = [cook_test(hypothesis)] * len(references)
        out[row] = scorer.compute_cider()
    return out


def synthetic_references(n_clips, seed=0):
    captions = [clip_captions(clip_spec(seed, "development", i, 16000, 1, 2), 5) for i in range(n_clips)]
    return [[" ".join(tokenize(c)) for c in clip] for clip in captions]


def test_equals_pycocoevalcap_on_every_caption_clip_pair():
    references = synthetic_references(25)
    references[0][0] = "a a a bell bell rings rings rings a bell"  # repeated n-grams: clipping
    references[1][1] = "bell"  # a one-word caption: no bigrams
    references[2][2] = "zebra xylophone quartet"  # n-grams no other clip has
    hypotheses = [c for clip in references for c in clip] + ["nothing in common whatsoever"]
    expected = oracle(hypotheses, references)
    ours = cider_d([h.split() for h in hypotheses], [[r.split() for r in refs] for refs in references])
    assert ours.shape == (len(hypotheses), 25)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert expected.max() > 1.0  # the comparison is not between zeros


def test_blocking_does_not_change_the_result():
    references = [[r.split() for r in refs] for refs in synthetic_references(12)]
    hypotheses = [r for refs in references for r in refs]
    np.testing.assert_array_equal(cider_d(hypotheses, references, block=7), cider_d(hypotheses, references))


def test_clip_matrix_is_the_symmetrised_mean_over_a_clips_captions():
    captions = [clip_captions(clip_spec(1, "development", i, 16000, 1, 2), 5) for i in range(10)]
    matrix = clip_cider(captions)
    tokens = [[tokenize(c) for c in clip] for clip in captions]
    per_caption = cider_d([t for clip in tokens for t in clip], tokens)
    one_way = per_caption[5:10, 7].mean()  # captions of clip 1 against clip 7's references
    other_way = per_caption[35:40, 1].mean()
    assert matrix[1, 7] == pytest.approx((one_way + other_way) / 2, rel=1e-6)
    np.testing.assert_array_equal(matrix, matrix.T)


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


def test_matrices_and_percentiles_are_cached(tmp_path):
    captions = [clip_captions(clip_spec(2, "development", i, 16000, 1, 2), 5) for i in range(16)]
    cache = CiderCache(tmp_path)
    first = cache.percentiles(captions, [80, 90, 99])
    assert len(list(tmp_path.rglob("clip_cider.npy"))) == 1 and len(list(tmp_path.rglob("percentiles-*.json"))) == 1
    assert cache.percentiles(captions, [80, 90, 99]) == first
    assert first[0] <= first[1] <= first[2]

"""CIDEr of clip pairs on demand (blocks, single pairs) and the percentiles over all pairs."""

import numpy as np
import pytest

from bench_plugins.datasets.synthetic import clip_captions, clip_spec
from bench_plugins.losses import cider, pair_quantiles
from bench_plugins.losses.cider_pairs import ClipPairs
from bench_plugins.losses.pair_quantiles import exact, sample_size, sampled
from bench_plugins.losses.relax import clip_cider, percentiles


def captions(n, seed=7, varying=False):
    return [clip_captions(clip_spec(seed, "development", i, 16000, 1, 2), 1 + i % 3 if varying else 5) for i in range(n)]


@pytest.mark.parametrize("varying", [False, True])
def test_a_block_is_the_full_matrixs_block(varying):
    clips = captions(60, varying=varying)
    pairs = ClipPairs.from_captions(clips)
    full = clip_cider(clips)
    for index in (np.array([3, 59, 0, 17, 17, 42]), np.arange(60)[::-1], np.array([5])):
        np.testing.assert_allclose(pairs.block(index), full[np.ix_(index, index)], rtol=1e-6, atol=1e-7)
    i, j = np.array([1, 2, 40, 7]), np.array([9, 2, 3, 55])
    np.testing.assert_allclose(pairs.pairs(i, j, chunk=3), full[i, j], rtol=1e-5, atol=1e-7)
    assert full.max() > 1.0


def test_the_vectors_survive_a_round_trip_through_arrays():
    clips = captions(20, varying=True)
    pairs = ClipPairs.from_captions(clips)
    again = ClipPairs.from_arrays(pairs.arrays())
    np.testing.assert_array_equal(again.matrix(), pairs.matrix())


def test_exact_percentiles_equal_numpys_over_distinct_pairs_also_when_bracketed(monkeypatch):
    clips = captions(70)
    pairs = ClipPairs.from_captions(clips)
    qs = [0, 50, 80, 90, 99, 100]
    expected = percentiles(clip_cider(clips), qs)
    assert exact(pairs, qs).values == expected  # all values held
    monkeypatch.setattr(pair_quantiles, "HOLD", 0)
    monkeypatch.setattr(pair_quantiles, "PILOT", 500)
    assert exact(pairs, qs, tile=16).values == expected  # brackets from a pilot sample, tiles of 16 clips
    monkeypatch.setattr(pair_quantiles, "PILOT_DELTA", 0.999)  # narrow brackets that miss: widened until they hold
    assert exact(pairs, qs, tile=16).values == expected


def test_sampled_percentiles_fall_within_their_stated_rank_error():
    assert sample_size(0.001, 0.01) == 2_649_159  # the default: 0.1 percentile points with probability 0.99
    clips = captions(80)
    pairs = ClipPairs.from_captions(clips)
    full = clip_cider(clips)
    values = np.sort(full[np.triu_indices(80, k=1)])
    qs = [80, 90, 99]
    estimate = sampled(pairs, qs, epsilon=0.02, delta=0.01, seed=3)
    assert estimate.method == "sampled" and estimate.pairs == sample_size(0.02, 0.01) and estimate.rank_error == 2.0
    for q, value in zip(qs, estimate.values):
        at_or_below = np.searchsorted(values, value, side="right") / len(values)
        below = np.searchsorted(values, value, side="left") / len(values)
        assert below <= q / 100 + 0.02 and at_or_below >= q / 100 - 0.02


def test_building_in_chunks_changes_nothing(monkeypatch):
    clips = captions(40, varying=True)
    whole = ClipPairs.from_captions(clips)
    monkeypatch.setattr(cider, "CHUNK", 7)  # 80 captions: 12 chunks, the last one short
    chunked = ClipPairs.from_captions(clips)
    for a, b in zip((*whole.dense, *whole.sparse), (*chunked.dense, *chunked.sparse)):
        assert a.shape == b.shape and b.has_sorted_indices
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(chunked.matrix(), whole.matrix())


def test_a_halfs_two_matrices_share_their_indices_also_after_a_round_trip():
    # "dog barks" in 100 of 120 clips (more than 64 captions: dense), "w{i}" in one (sparse).
    pairs = ClipPairs.from_captions([[f"a dog barks w{i}" if i % 6 else "a cat", f"w{i} loud"] for i in range(120)])
    again = ClipPairs.from_arrays(pairs.arrays())
    assert pairs.dense[0].nnz and pairs.sparse[0].nnz
    for vectors in (pairs, again):
        for hypothesis, reference in (vectors.dense, vectors.sparse):
            assert np.shares_memory(hypothesis.indices, reference.indices)
            assert np.shares_memory(hypothesis.indptr, reference.indptr)
            assert not np.shares_memory(hypothesis.data, reference.data)
    assert again.nbytes() == pairs.nbytes()
    sizes = sum(m.data.nbytes for m in (*pairs.dense, *pairs.sparse))
    sizes += sum(m.indices.nbytes + m.indptr.nbytes for m in (pairs.dense[0], pairs.sparse[0]))
    assert pairs.nbytes() == sizes + pairs.sizes.nbytes + pairs.starts.nbytes + pairs.lengths.nbytes

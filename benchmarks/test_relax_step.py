"""Time per training step of the CIDEr relaxation at B = 512, side by side: a batch's block
looked up in the whole matrix (splits of up to ``DENSE_CLIPS`` clips, and every split before
issue 16) against the block computed from the split's CIDEr vectors (larger splits).

    pytest benchmarks/test_relax_step.py --benchmark-enable --benchmark-group-by=group

Memory at 50,000 clips and the percentiles' error are measured by ``relax_scaling.py``.
"""

import numpy as np
import pytest
import torch

from bench_plugins.losses.cider_pairs import ClipPairs
from benchmarks.relax_scaling import zipf_captions

CLIPS, BATCH = 5_000, 512


@pytest.fixture(scope="module")
def split():
    pairs = ClipPairs.from_captions(zipf_captions(CLIPS, seed=5))
    rng = np.random.default_rng(2)
    return pairs, pairs.matrix(), [rng.choice(CLIPS, BATCH, replace=False) for _ in range(8)]


def steps(block, indices):
    for index in indices:
        torch.from_numpy(block(index))


@pytest.mark.benchmark(group="relax-block-5000-clips-B512")
def test_lookup_in_the_whole_matrix(benchmark, split):
    _, matrix, indices = split
    benchmark(steps, lambda index: matrix[np.ix_(index, index)], indices)


@pytest.mark.benchmark(group="relax-block-5000-clips-B512")
def test_block_from_vectors(benchmark, split):
    pairs, matrix, indices = split
    np.testing.assert_allclose(pairs.block(indices[0]), matrix[np.ix_(indices[0], indices[0])], atol=1e-6)
    benchmark(steps, pairs.block, indices)

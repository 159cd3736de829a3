"""Speed of the vectorised CIDEr-D against pycocoevalcap, side by side in one run.

    pytest benchmarks --benchmark-enable --benchmark-group-by=group

The pycocoevalcap side takes several minutes (one round); it is kept out of the test suite.
"""

import numpy as np
import pytest

from bench_plugins.datasets.synthetic import clip_captions, clip_spec
from bench_plugins.losses.cider import cider_d, tokenize
from bench_plugins.losses.relax import clip_cider
from tests.plugins.test_cider import oracle, synthetic_references

RESULTS = {}


@pytest.fixture(scope="module")
def clips500():
    references = synthetic_references(500, seed=3)
    hypotheses = [c for clip in references for c in clip]
    return hypotheses, references


@pytest.mark.benchmark(group="cider-500-clips")
def test_vectorised(benchmark, clips500):
    hypotheses, references = clips500
    tokens = [[r.split() for r in refs] for refs in references]
    RESULTS["ours"] = benchmark(cider_d, [h.split() for h in hypotheses], tokens)


@pytest.mark.benchmark(group="cider-500-clips")
def test_pycocoevalcap(benchmark, clips500):
    hypotheses, references = clips500
    expected = benchmark.pedantic(oracle, args=(hypotheses, references), rounds=1, iterations=1)
    np.testing.assert_allclose(RESULTS["ours"], expected, rtol=0, atol=1e-6)


@pytest.mark.benchmark(group="clotho-development-size")
def test_clotho_sized_clip_matrix(benchmark):
    """3,839 clips x 5 captions, the size of Clotho v2's development split."""
    captions = [clip_captions(clip_spec(0, "development", i, 16000, 1, 2), 5) for i in range(3839)]
    matrix = benchmark.pedantic(clip_cider, args=(captions,), rounds=1, iterations=1)
    assert matrix.shape == (3839, 3839)
    assert tokenize(captions[0][0])

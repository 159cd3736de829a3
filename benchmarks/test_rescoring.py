"""Evidence at Clotho's evaluation size (5,225 captions x 1,045 clips), side by side with
today's scorer on the full similarity matrix:

    pytest benchmarks/test_rescoring.py --benchmark-enable --benchmark-group-by=group

- scoring: the DCASE 2022 metrics from the similarity matrix (what a run computes) against
  the same metrics from a stored per-query record (``bench rescore``, reading the file);
- bootstrap: 1,000 resamples of the four metrics' intervals.
The record's size on disk is asserted to stay within 5 MB and printed.
"""

import numpy as np
import pytest

from benchmark.conventions import DEFAULT, convention, scores, values
from benchmark.metrics import retrieval_metrics
from benchmark.queries import Expected, QueryRecord, config_digest, read, split_identity
from benchmark.uncertainty import intervals

CLIPS, CAPTIONS = 1045, 5
EXPECTED = None  # what the record's result would say of it, set by the fixture


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    rng = np.random.default_rng(0)
    similarity = rng.standard_normal((CLIPS * CAPTIONS, CLIPS)).astype(np.float32)
    clip_of = np.repeat(np.arange(CLIPS), CAPTIONS)
    similarity[np.arange(len(clip_of)), clip_of] += 2.0  # a system that is right about half the time
    files = [f"clip{i}.wav" for i in range(CLIPS)]
    captions = [[f"clip {i} caption {k}" for k in range(CAPTIONS)] for i in range(CLIPS)]
    path = tmp_path_factory.mktemp("record") / "seed-0.queries.npz"
    QueryRecord.from_similarity(similarity, files, captions).write(path)
    global EXPECTED
    EXPECTED = Expected(split_identity(files, captions), 0, config_digest({}), CLIPS * CAPTIONS, CLIPS)
    print(f"\nper-query record: {path.stat().st_size / 1e6:.2f} MB")
    assert path.stat().st_size <= 5e6
    return similarity, clip_of, path


@pytest.mark.benchmark(group="score-clotho-evaluation-size")
def test_from_the_similarity_matrix(benchmark, stored):
    similarity, clip_of, _ = stored
    benchmark(retrieval_metrics, similarity, clip_of)


@pytest.mark.benchmark(group="score-clotho-evaluation-size")
def test_from_the_stored_record(benchmark, stored):
    similarity, clip_of, path = stored
    rescored = benchmark(lambda: scores(read(path, EXPECTED).ranks, convention(DEFAULT)))
    assert rescored == pytest.approx(retrieval_metrics(similarity, clip_of))


@pytest.mark.benchmark(group="bootstrap-clotho-evaluation-size")
def test_bootstrap_1000_resamples_of_four_metrics(benchmark, stored):
    _, clip_of, path = stored
    per_query = values(read(path, EXPECTED).ranks, convention(DEFAULT))
    benchmark(intervals, per_query, clip_of)

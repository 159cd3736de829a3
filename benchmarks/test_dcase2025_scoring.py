"""Scoring a DCASE 2025 submission against the real task annotations, beside reading the
CSV alone, and the figures checked against the organisers' rule computed independently:

    pytest benchmarks/test_dcase2025_scoring.py --benchmark-enable --benchmark-group-by=group -s

The annotations are the organisers' ``metadata_eval.csv`` (1,037 queries), read from
``$BENCH_DCASE2025_ANNOTATIONS`` (default: the copy in ``../shared/data/dcase2025/``);
bench itself downloads it. Clotho's evaluation captions are not needed: a split of 1,045
files is made from the annotated file names (the 1,006 listed, then fillers), every query
a caption of the first file it lists. The predictions are a seeded 1,037 x 1,045 matrix of
a system that scores relevant files 1.5 standard deviations higher, written as the
baseline's predict.py writes its CSV.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from bench_plugins.datasets.clotho import read_annotations
from benchmark.api import Split
from benchmark.conventions import convention
from benchmark.external import evaluate
from benchmark.predictions import read_csv, write_csv
from benchmark.queries import Relevance
from benchmark.uncertainty import intervals
from tests.benchmark.test_conventions import baseline_ap

ANNOTATIONS = Path(os.environ.get("BENCH_DCASE2025_ANNOTATIONS",
                                  Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2025" / "metadata_eval.csv"))
CLIPS = 1045


def organisers_map(scores: np.ndarray, relevant: list[list[int]], k: int) -> float:
    """mAP@k as d25_t6/retrieval_module.py computes it (the test suite's independent copy of
    the organisers' AP rule, averaged over the queries)."""
    return float(np.mean([baseline_ap(row, files, k) for row, files in zip(scores, relevant)]))


@pytest.fixture(scope="module")
def submission(tmp_path_factory):
    if not ANNOTATIONS.is_file():
        raise FileNotFoundError(f"the DCASE 2025 annotations are not at {ANNOTATIONS}; set BENCH_DCASE2025_ANNOTATIONS")
    queries = read_annotations(ANNOTATIONS)
    listed = list(dict.fromkeys(f for _, files in queries for f in files))
    names = listed + [f"filler {i}.wav" for i in range(CLIPS - len(listed))]
    index = {n: i for i, n in enumerate(names)}
    captions = [[] for _ in names]
    for text, files in queries:
        captions[index[files[0]]].append(text)
    captions = [(texts + [f"{name} caption {k}" for k in range(5)])[:max(5, len(texts))] for name, texts in zip(names, captions)]
    split = Split("evaluation", tuple(Path(n) for n in names), tuple(tuple(c) for c in captions))
    rng = np.random.default_rng(0)
    relevant = [[index[f] for f in files] for _, files in queries]
    scores = rng.standard_normal((len(queries), CLIPS))
    for row, files in zip(scores, relevant):
        row[files] += 1.5
    order = rng.permutation(CLIPS)  # columns in the order os.listdir happened to give
    path = tmp_path_factory.mktemp("submission") / "team.csv"
    write_csv(path, [q for q, _ in queries], [names[i] for i in order], scores[:, order])
    print(f"\nsubmission: {len(queries)} queries x {CLIPS} files, {path.stat().st_size / 1e6:.1f} MB")
    return path, split, {"dcase2025": queries}, scores, relevant


def score_submission(path, split, sets):
    record, per_query, clips = evaluate(read_csv(path), split, sets, convention("dcase2025"), Relevance(False), "clotho_v2")
    return {m: (float(v.mean()), bounds) for (m, v), bounds in zip(per_query.items(), intervals(per_query, clips).values())}


@pytest.mark.benchmark(group="dcase2025-submission")
def test_reading_the_csv_alone(benchmark, submission):
    benchmark(read_csv, submission[0])


@pytest.mark.benchmark(group="dcase2025-submission")
def test_scoring_it_with_1000_bootstrap_resamples(benchmark, submission):
    path, split, sets, scores, relevant = submission
    scored = benchmark(score_submission, path, split, sets)
    for k in (16, 10):
        mean, (low, high) = scored[f"mAP@{k}"]
        organisers = organisers_map(scores, relevant, k)
        print(f"mAP@{k}: bench {mean:.6f} [{low:.4f}, {high:.4f}], the organisers' rule {organisers:.6f}")
        assert mean == pytest.approx(organisers, abs=1e-9)

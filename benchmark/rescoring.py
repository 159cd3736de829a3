"""Scoring stored runs again from their per-query records: other conventions, metrics or
tie policies, bootstrap intervals, and paired comparisons of two systems, without the models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.conventions import CAPTIONS, DEFAULT, Convention, check_metric, convention, values
from benchmark.errors import BenchError
from benchmark.queries import Expected, QueryRecord, config_digest
from benchmark.queries import read as read_queries
from benchmark.results import Result, queries_path, read
from benchmark.uncertainty import Comparison, compare, compare_seeds, intervals


@dataclass(frozen=True)
class Stored:
    """One result file and the per-query record beside it."""

    path: Path
    result: Result
    queries: QueryRecord


def expected(result: Result) -> Expected:
    """What ``result`` says of its per-query record, to check the record against."""
    return Expected(result.queries["split"] if result.queries else {}, result.seed, config_digest(result.config),
                    result.n_test_captions, result.n_clips.get("test", 0))


#: How far a record's recomputed metric may lie from its result's (float32 scores, summed).
TOLERANCE = 1e-6


def load(path: Path) -> Stored:
    """The result at ``path`` with its per-query record; a result written before records
    existed, or whose record is missing, damaged, of another split, seed or configuration,
    or does not give the result's own metrics again, is named."""
    result = read(path)
    if not result.queries:
        raise BenchError(f"result {path} has no per-query record (written before bench kept them); move it aside and "
                         f"run it again: with its checkpoints in {path.with_suffix('.run')} the run only scores")
    record = read_queries(queries_path(path), expected(result))
    conv = convention(result.convention or DEFAULT)
    ranks, _ = record.scored(conv)
    for metric, value in values(ranks, conv).items():
        stated = result.text_to_audio.get(metric)
        if stated is not None and abs(float(value.mean()) - stated) > TOLERANCE:
            raise BenchError(f"per-query record {queries_path(path)} does not match its result: it gives {metric} "
                             f"{value.mean():.6f}, the result {stated:.6f}; re-run this result to write its record again")
    return Stored(path, result, record)


def choose(name: str, metrics: list[str] | None = None, ties: str | None = None) -> Convention:
    """Convention ``name``, with its metrics or tie policy replaced when given."""
    chosen = convention(name)
    if metrics:
        chosen = replace(chosen, name=f"{name}+custom", metrics=tuple(check_metric(m) for m in metrics))
    if ties:
        chosen = replace(chosen, ties=ties)
    return chosen


def per_query(stored: Stored, conv: Convention) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per query that ``conv`` scores, each of its metrics, and the query's clip."""
    ranks, clips = stored.queries.scored(conv)
    return values(ranks, conv), clips


def rescore(stored: Stored, conv: Convention, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """Each metric of ``conv``: its mean and 95% bootstrap interval, from the record alone."""
    scored, clips = per_query(stored, conv)
    bounds = intervals(scored, clips, seed=seed)
    return {metric: (float(v.mean()), *bounds[metric]) for metric, v in scored.items()}


def seeds(path: Path) -> dict[int, Stored]:
    """The runs ``path`` stands for by seed, with their records: itself, or a system's
    directory of seeds, which must hold one configuration on one test split and each seed
    once (its runs are pooled as one system's)."""
    files = sorted(path.glob("seed-*.json")) if path.is_dir() else [path]
    if not files:
        raise BenchError(f"{path} holds no result files (seed-N.json)")
    runs: dict[int, Stored] = {}
    for run in (load(f) for f in files):
        if run.result.seed in runs:
            raise BenchError(f"{runs[run.result.seed].path} and {run.path} are both runs of seed {run.result.seed}; "
                             "keep one file per seed in a system's directory")
        first = next(iter(runs.values()), None)
        if first is not None:
            _comparable(first, run)
            if config_digest(first.result.config) != config_digest(run.result.config):
                raise BenchError(f"{first.path} and {run.path} differ in configuration; a directory's seeds are pooled "
                                 "as one system: keep one configuration per directory")
        runs[run.result.seed] = run
    return runs


def every_seed(paths: Sequence[Path]) -> list[Stored]:
    """The runs of result files and of systems' directories of seeds, in the order given,
    each directory's by seed; all are read (and so checked, all on one dataset, protocol
    and test split) before any is used."""
    runs = [run for path in paths for _, run in sorted(seeds(path).items())]
    for run in runs[1:]:
        _comparable(runs[0], run)
    return runs


def pooled(runs: list[Stored], conv: Convention) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-query values of ``conv``'s metrics over several runs (seeds) of one system, one
    after the other, and each query's clip (the same clip in every seed)."""
    per_run = [per_query(run, conv) for run in runs]
    return ({m: np.concatenate([v[m] for v, _ in per_run]) for m in conv.metrics},
            np.concatenate([clips for _, clips in per_run]))


def common_seeds(a: dict[int, Stored], b: dict[int, Stored]) -> list[int]:
    """The seeds two systems are paired on: those both ran."""
    common = sorted(set(a) & set(b))
    if not common:
        raise BenchError(f"{a[min(a)].path} and {b[min(b)].path} share no seed; compare runs of the same seeds")
    return common


def paired(a: dict[int, Stored], b: dict[int, Stored], conv: Convention,
           seed: int = 0) -> dict[str, tuple[float, float, Comparison]]:
    """Per metric of ``conv``: A's and B's means over the seeds both have, and the comparison
    of A minus B: over those seeds when there are two or more (training randomness
    counted), else query by query (:mod:`benchmark.uncertainty`)."""
    common = common_seeds(a, b)
    for s in common:
        _comparable(a[s], b[s])
    per_seed = {side: [per_query(runs[s], conv)[0] for s in common] for side, runs in (("a", a), ("b", b))}
    clips = per_query(a[common[0]], conv)[1]
    out = {}
    for m in conv.metrics:
        va, vb = ([v[m] for v in per_seed[side]] for side in ("a", "b"))
        test = compare_seeds(va, vb) if len(common) > 1 else compare(va[0], vb[0], clips, seed=seed)
        out[m] = (float(np.mean(va)), float(np.mean(vb)), test)
    return out


def _comparable(a: Stored, b: Stored) -> None:
    """Refuse, with the reason, two runs that were not scored on the same queries."""
    for what, left, right in (("dataset", a.result.dataset, b.result.dataset),
                              ("protocol", a.result.protocol, b.result.protocol),
                              ("test split", a.queries.split, b.queries.split)):
        if left != right:
            raise BenchError(f"{a.path} and {b.path} differ in {what} ({left} vs {right}); "
                             "only runs on the same test queries can be compared")


#: Rank buckets of :func:`rank_histogram`: (lowest, highest) rank of the first relevant clip.
BUCKETS = ((1, 1), (2, 5), (6, 10), (11, 50), (51, 100), (101, None))


def first_ranks(stored: Stored, conv: Convention) -> tuple[np.ndarray, np.ndarray]:
    """For each query ``conv`` scores, where its first relevant clip ranks (under ``conv``'s
    relevance and ties; on the captions under DCASE 2022, its own clip's rank) and which
    clip that is."""
    ranks, _ = stored.queries.scored(conv)
    if conv.queries == CAPTIONS and not conv.duplicate_captions_relevant:
        ranks = ranks.own_only()
    return ranks.positions(conv.ties)[ranks.offsets[:-1]], ranks.clip[ranks.offsets[:-1]]


def rank_histogram(stored: Stored, conv: Convention | None = None) -> list[tuple[str, int]]:
    """How many queries rank their first relevant clip in each of :data:`BUCKETS`."""
    rank, _ = first_ranks(stored, conv or convention(DEFAULT))
    return [(f"{lo}" if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}",
             int(((rank >= lo) & (rank <= (hi or np.inf))).sum())) for lo, hi in BUCKETS]


@dataclass(frozen=True)
class Miss:
    """A query that ranked its relevant clips low: its text, its first relevant clip and
    that clip's rank, and the first clips it retrieved instead (file name and first caption)."""

    caption: str
    clip: str
    rank: int
    retrieved: list[tuple[str, str]]


def worst(stored: Stored, n: int = 10, shown: int = 5, conv: Convention | None = None) -> list[Miss]:
    """The ``n`` queries of ``conv`` (default DCASE 2022's: every caption, its own clip)
    whose first relevant clip ranked lowest, worst first."""
    conv = conv or convention(DEFAULT)
    record = stored.queries
    if not record.captions:
        raise BenchError(f"the per-query record of {stored.path} keeps no captions (written by an earlier bench)")
    rank, clip = first_ranks(stored, conv)
    texts = [caption for clip_captions in record.captions for caption in clip_captions]
    if conv.queries == CAPTIONS:
        rows, retrieved = np.arange(len(texts)), record.top
    else:
        chosen = record.sets[conv.queries]
        rows, retrieved = chosen.rows, np.argsort(-chosen.scores, axis=1, kind="stable")[:, :shown]
    order = np.argsort(-rank, kind="stable")[:max(n, 0)]
    return [Miss(texts[rows[q]], record.file_names[clip[q]], int(rank[q]),
                 [(record.file_names[c], record.captions[c][0]) for c in retrieved[q][:shown]]) for q in order]

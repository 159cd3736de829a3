"""Metric conventions as data: which metrics, at which k, how ties are broken, and which
clips count as relevant to a query.

Published numbers are comparable only under one convention, and the field's tools differ:
DCASE 2022 scores every caption with its one clip and ranks ties against the system; the
DCASE 2025 task scores 1,037 annotated queries, each with its own list of relevant clips,
by mAP@16; LAION-CLAP's "mAP@10" is MRR@10 over every caption; MTEB's Clotho task ranks by
its hit rate at 5 and breaks ties by document id. A :class:`Convention` names those
choices (each cites the code it reproduces), and the per-query values here are what the
means, intervals and paired tests of :mod:`benchmark.uncertainty` are built from.

A query's relevant clips are kept as their *positions* in its ranking. What a run stores is
enough to place them under any tie policy: for each relevant clip, how many irrelevant clips
scored strictly higher (``better``) and how many scored the same (``tied``).

- ``pessimistic`` (DCASE 2022's scorer, the default): tied irrelevant clips rank first;
- ``optimistic``: they rank after;
- ``expected``: the expected position under a uniformly random order of the tie group, the
  ``j``-th of ``m`` relevant clips tied with ``t`` irrelevant ones being preceded by
  ``t * j / (m + 1)`` of them on average. Metrics are then taken at that (fractional)
  position, not averaged over orders;
- ``id``: trec_eval's rule (``form_res_rels.c``, ``comp_sim_docno``), which MTEB follows:
  tied clips in descending order of their document id (bench's id is the file name,
  compared as trec_eval's ``strcmp`` compares UTF-8 bytes). A record keeps, per relevant
  clip, how many clips tie with it under a greater id (``ahead``).

Per query, with relevant clips at positions ``p_1 < … < p_R``:
``R@k`` = 1 if ``p_1 <= k``; ``MRR@k`` = ``1 / p_1`` if ``p_1 <= k``; ``mAP@k`` =
``(1 / R) * sum_{i: p_i <= k} i / p_i`` (the DCASE 2025 baseline's rule, which divides by R
and not by min(R, k); with one relevant clip it is DCASE 2022's ``1 / rank``); ``nDCG@k`` =
``sum_{p_i <= k} g_i / log2(p_i + 1)`` over its ideal ``sum_{j <= min(R, k)} g_(j) / log2(j + 1)``
(``g_i`` the clip's grade, 1 without graded judgements, ``g_(j)`` the grades from highest to
lowest: linear gains, as trec_eval and MTEB take them);
``R-precision`` = the share of the R clips ranked in the top R. Grades count in nDCG only:
the other metrics treat every judged clip as relevant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from benchmark.errors import BenchError, unknown_name

TIES = ("pessimistic", "optimistic", "expected", "id")
#: The query set of every caption of a split (as opposed to a dataset's named query sets).
CAPTIONS = "captions"
_METRIC = re.compile(r"^(R|MRR|mAP|nDCG)@([1-9][0-9]*)$|^R-precision$")


def check_metric(metric: str) -> str:
    """``metric`` if it is one this module computes (``R@k``, ``MRR@k``, ``mAP@k``, ``nDCG@k``,
    ``R-precision``), else a one-line error listing them."""
    if not _METRIC.match(metric):
        raise BenchError(f"unknown metric {metric!r}; use R@k, MRR@k, mAP@k or nDCG@k (k a positive integer) or R-precision")
    return metric


@dataclass(frozen=True)
class Convention:
    """A named way of scoring: its metrics (the first is the one tables rank by), its tie
    policy, and whether identical caption texts make their clips relevant to each other."""

    name: str
    metrics: tuple[str, ...]
    ties: str = "pessimistic"
    duplicate_captions_relevant: bool = False
    source: str = ""
    #: The queries scored: ``captions`` (every caption of the test split, clip by clip) or
    #: the name of a query set the dataset defines with its own relevant clips (``dcase2025``:
    #: :meth:`benchmark.api.Dataset.query_sets`), scored with exactly those clips.
    queries: str = CAPTIONS

    def __post_init__(self) -> None:
        for metric in self.metrics:
            check_metric(metric)
        if self.ties not in TIES:
            raise unknown_name("tie policy", self.ties, TIES)


#: The convention results are scored under unless asked otherwise: today's DCASE 2022.
DEFAULT = "dcase2022"

CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (
        Convention("dcase2022", ("mAP@10", "R@1", "R@5", "R@10"),
                   source="DCASE 2022 task 6B: one relevant clip per caption, ties against the system"),
        # CPJKU/dcase2025_task6_baseline, d25_t6/retrieval_module.py, on_validation_epoch_end:
        # the annotated queries of resources/metadata_eval.csv, each with its listed files;
        # AP@k = sum over the listed files' ranks r_i < k (sorted) of i / (r_i + 1), over
        # their number. The code logs k = 10; the task ranks teams by mAP@16.
        Convention("dcase2025", ("mAP@16", "mAP@10"), queries="dcase2025",
                   source="DCASE 2025 task 6 (CPJKU/dcase2025_task6_baseline, d25_t6/retrieval_module.py, "
                          "on_validation_epoch_end): the 1,037 annotated queries with their listed clips, AP over "
                          "their number; ranked by mAP@16, the baseline code logs mAP@10; ties against the system "
                          "(the code's argsort leaves their order undefined)"),
        # embeddings-benchmark/mteb, mteb/tasks/retrieval/eng/clotho.py (ClothoT2ARetrievalV2,
        # main_score hit_rate_at_5) and mteb/_evaluators/retrieval_metrics.py
        # (calculate_retrieval_scores: pytrec_eval's success.k, ndcg_cut.k, map_cut.k, recall.k;
        # mrr with ties by doc id descending): one relevant clip per query.
        Convention("mteb", ("R@5", "nDCG@10", "mAP@10", "MRR@10", "R@1", "R@10"), ties="id",
                   source="MTEB ClothoT2ARetrieval.v2 (embeddings-benchmark/mteb, mteb/tasks/retrieval/eng/clotho.py; "
                          "mteb/_evaluators/retrieval_metrics.py, calculate_retrieval_scores): one relevant clip per "
                          "query, main score hit_rate_at_5 (trec_eval's success@5, bench's R@5), ties by document "
                          "id descending as trec_eval breaks them"),
        Convention("judged", ("mAP@10", "nDCG@10", "R@1", "R@5", "R@10"), duplicate_captions_relevant=True,
                   source="bench: every caption a query; relevant are its own clip, the clips of identical captions "
                          "and the dataset's own judgements (Dataset.relevance), graded where it grades them"),
        # LAION-AI/CLAP, src/laion_clap/training/train.py, evaluate_clotho_audiocaps: every
        # caption ranks the clips; mAP@10 = mean of 1/(rank) within the top 10 (MRR@10).
        Convention("clap", ("mAP@10", "R@1", "R@5", "R@10"),
                   source="LAION-CLAP (LAION-AI/CLAP, src/laion_clap/training/train.py, evaluate_clotho_audiocaps): "
                          "every caption a query with its one clip, text_to_audio_mAP@10 = MRR@10; ties against the "
                          "system (the code's argsort leaves their order undefined)"),
    )
}


def convention(name: str) -> Convention:
    """The convention called ``name``."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise unknown_name("metric convention", name, CONVENTIONS) from None


def relevant_clips(captions: Sequence[Sequence[str]], duplicates_relevant: bool) -> list[list[int]]:
    """For every caption (clip by clip, in order) the clips relevant to it: its own first,
    then with ``duplicates_relevant`` every other clip with an identical caption (compared
    without case and surrounding or repeated spaces)."""
    own = [clip for clip, texts in enumerate(captions) for _ in texts]
    if not duplicates_relevant:
        return [[clip] for clip in own]
    clips_of: dict[str, set[int]] = {}
    keys = [" ".join(text.split()).casefold() for texts in captions for text in texts]
    for key, clip in zip(keys, own):
        clips_of.setdefault(key, set()).add(clip)
    return [[clip, *sorted(clips_of[key] - {clip})] for key, clip in zip(keys, own)]


@dataclass(frozen=True)
class Ranks:
    """Where each query's relevant clips fall: for relevant clip ``j`` of query ``q`` (items
    ``offsets[q]:offsets[q + 1]``, best first), ``better[j]`` irrelevant clips scored
    higher and ``tied[j]`` the same. ``clip[j]`` is which clip it is, ``score[j]`` its
    similarity, and ``own[j]`` whether it is the query's own clip (the one its caption was
    written for). ``grade[j]`` is its graded relevance (> 0), or None when every relevant
    clip counts the same. ``ahead[j]`` is how many clips, relevant or not, tie with it under
    a greater id (the ``id`` tie policy), or None when the ids were not given."""

    offsets: np.ndarray
    clip: np.ndarray
    better: np.ndarray
    tied: np.ndarray
    score: np.ndarray
    own: np.ndarray
    grade: np.ndarray | None = None
    ahead: np.ndarray | None = None

    @property
    def n_queries(self) -> int:
        return len(self.offsets) - 1

    def counts(self) -> np.ndarray:
        """The number of relevant clips R of each query."""
        return np.diff(self.offsets)

    def own_only(self) -> Ranks:
        """The ranks when only each query's own clip is relevant: the other clips become
        irrelevant ones, counted above or tied as their scores say."""
        if self.own.all():
            return self
        if int(self.own.sum()) != self.n_queries:
            raise BenchError("a query whose own clip is not among its relevant clips cannot be scored with its own clip alone")
        query = np.repeat(np.arange(self.n_queries), self.counts())
        better, tied = self.better.copy(), self.tied.copy()
        for q in np.unique(query[~self.own]):
            lo, hi = self.offsets[q], self.offsets[q + 1]
            mine = lo + int(np.flatnonzero(self.own[lo:hi])[0])
            others = np.delete(self.score[lo:hi], mine - lo)
            better[mine] += int((others > self.score[mine]).sum())
            tied[mine] += int((others == self.score[mine]).sum())
        keep = self.own
        grade = None if self.grade is None else self.grade[keep]
        ahead = None if self.ahead is None else self.ahead[keep]
        return Ranks(np.arange(self.n_queries + 1), self.clip[keep], better[keep], tied[keep], self.score[keep], keep[keep],
                     grade, ahead)

    def _above(self) -> np.ndarray:
        """For each relevant clip, how many relevant clips of its query score strictly higher
        (its query's clips are listed best first)."""
        query = np.repeat(np.arange(self.n_queries), self.counts())
        starts = np.ones(len(self.clip), dtype=bool)
        starts[1:] = (query[1:] != query[:-1]) | (self.score[1:] != self.score[:-1])
        first = np.flatnonzero(starts)
        return first[np.cumsum(starts) - 1] - self.offsets[query]

    def positions(self, ties: str) -> np.ndarray:
        """1-based positions of the relevant clips under tie policy ``ties``."""
        if ties not in TIES:
            raise unknown_name("tie policy", ties, TIES)
        query = np.repeat(np.arange(self.n_queries), self.counts())
        before = np.arange(len(self.clip)) - self.offsets[query]  # relevant clips ranked ahead
        if ties == "optimistic":
            return (1 + before + self.better).astype(np.float64)
        if ties == "pessimistic":
            return (1 + before + self.better + self.tied).astype(np.float64)
        if ties == "id":
            if self.ahead is None:
                raise BenchError("the id tie policy needs a record that keeps ties by id (written by a later bench); "
                                 "choose --ties pessimistic, optimistic or expected")
            return (1 + self._above() + self.better + self.ahead).astype(np.float64)
        # expected: within a tie group (same query, better and tied), the j-th of m relevant clips
        group = np.stack([query, self.better, self.tied], axis=1)
        starts = np.ones(len(group), dtype=bool)
        starts[1:] = (group[1:] != group[:-1]).any(axis=1)
        group_id = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        size = np.bincount(group_id)
        j = np.arange(len(group)) - first[group_id] + 1
        return 1 + before + self.better + self.tied * j / (size[group_id] + 1)


def ranks(similarity: np.ndarray, relevant: Sequence[Sequence[int]], grades: Sequence[Sequence[float]] | None = None,
          chunk: int = 512, own: Sequence[int] | None = None, ids: Sequence[str] | None = None) -> Ranks:
    """The :class:`Ranks` of every query (row of ``similarity``, ``(n_queries, n_clips)``)
    given its ``relevant`` clips and their ``grades`` (one per relevant clip, > 0) when the
    judgements are graded. Each query's own clip is ``own[q]`` (-1: none among its relevant
    clips), by default the first of its list (as :func:`relevant_clips` lists them). With the
    clips' ``ids``, ties by id are counted for the ``id`` tie policy."""
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] != len(relevant):
        raise BenchError(f"similarity must be (n_queries, n_clips) with {len(relevant)} queries, got {similarity.shape}")
    if not np.isfinite(similarity).all():
        raise BenchError("similarity matrix contains NaN or infinite values")
    counts = np.array([len(r) for r in relevant], dtype=np.int64)
    if (counts == 0).any():
        raise BenchError(f"query {int(np.argmax(counts == 0))} has no relevant clip")
    query = np.repeat(np.arange(len(relevant)), counts)
    clip = np.fromiter((c for r in relevant for c in r), dtype=np.int64, count=int(counts.sum()))
    if clip.size and (clip.min() < 0 or clip.max() >= similarity.shape[1]):
        raise BenchError("a relevant clip index lies outside the similarity matrix")
    target = similarity[query, clip]
    better = np.empty(len(clip), dtype=np.int64)
    tied = np.empty(len(clip), dtype=np.int64)
    key = None if ids is None else np.argsort(np.argsort(np.array([str(i).encode() for i in ids], dtype=object)))
    if key is not None and len(key) != similarity.shape[1]:
        raise BenchError(f"{len(key)} clip ids for {similarity.shape[1]} clips")
    ahead = None if key is None else np.empty(len(clip), dtype=np.int64)
    for start in range(0, len(clip), chunk):  # all clips first, relevant ones taken out below
        rows = similarity[query[start:start + chunk]]
        value = target[start:start + chunk, None]
        better[start:start + chunk] = (rows > value).sum(axis=1)
        equal = rows == value
        tied[start:start + chunk] = equal.sum(axis=1)
        if ahead is not None:  # every clip, relevant or not, tied under a greater id
            ahead[start:start + chunk] = (equal & (key[None, :] > key[clip[start:start + chunk], None])).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if own is None:
        own_flag = np.zeros(len(clip), dtype=bool)
        own_flag[offsets[:-1]] = True  # each query's list starts with its own clip
    else:
        own_flag = clip == np.repeat(np.asarray(own, dtype=np.int64), counts)
    grade = None
    if grades is not None:
        grade = np.fromiter((g for gs in grades for g in gs), dtype=np.float64)
        if len(grade) != len(clip) or not (np.isfinite(grade) & (grade > 0)).all():
            raise BenchError("relevance grades must be one positive number per relevant clip")
    order = np.empty(len(clip), dtype=np.int64)
    for q in np.flatnonzero(counts > 1):
        lo, hi = offsets[q], offsets[q + 1]
        scores = target[lo:hi]
        better[lo:hi] -= (scores[None, :] > scores[:, None]).sum(axis=1)
        tied[lo:hi] -= (scores[None, :] == scores[:, None]).sum(axis=1)
        order[lo:hi] = lo + np.argsort(-scores, kind="stable")
    single = np.flatnonzero(counts == 1)
    tied[offsets[single]] -= 1  # the clip itself
    order[offsets[single]] = offsets[single]
    return Ranks(offsets, clip[order], better[order], tied[order], target[order], own_flag[order],
                 None if grade is None else grade[order], None if ahead is None else ahead[order])


def per_query(ranks: Ranks, metric: str, ties: str = "pessimistic") -> np.ndarray:
    """The value of ``metric`` for every query, with ties broken by ``ties``."""
    check_metric(metric)
    position = ranks.positions(ties)
    count = ranks.counts()
    query = np.repeat(np.arange(ranks.n_queries), count)
    if metric == "R-precision":
        inside = position <= count[query]
        return np.bincount(query, inside, ranks.n_queries) / count
    name, k = metric.split("@")
    k = int(k)
    first = position[ranks.offsets[:-1]]
    inside = position <= k
    if name == "R":
        return (first <= k).astype(np.float64)
    if name == "MRR":
        return np.where(first <= k, 1.0 / first, 0.0)
    if name == "mAP":
        nth = np.arange(len(position)) - ranks.offsets[query] + 1
        return np.bincount(query, np.where(inside, nth / position, 0.0), ranks.n_queries) / count
    discount = 1.0 / np.log2(np.arange(2, k + 2))  # nDCG
    if ranks.grade is None:
        gains = np.where(inside, 1.0 / np.log2(position + 1), 0.0)
        return np.bincount(query, gains, ranks.n_queries) / np.cumsum(discount)[np.minimum(count, k) - 1]
    gains = np.where(inside, ranks.grade / np.log2(position + 1), 0.0)
    # the ideal ranking: each query's grades from highest to lowest, the first k discounted
    best = np.lexsort((-ranks.grade, query))
    nth = np.arange(len(best)) - ranks.offsets[query[best]]
    ideal = np.where(nth < k, ranks.grade[best] * discount[np.minimum(nth, k - 1)], 0.0)
    return np.bincount(query, gains, ranks.n_queries) / np.bincount(query[best], ideal, ranks.n_queries)


def values(ranks: Ranks, conv: Convention) -> dict[str, np.ndarray]:
    """Per query, each of ``conv``'s metrics, with the relevance ``conv`` counts: on the
    captions, their own clip alone unless it counts the others; a dataset's query set is
    scored with exactly its listed clips."""
    if conv.queries == CAPTIONS and not conv.duplicate_captions_relevant:
        ranks = ranks.own_only()
    return {metric: per_query(ranks, metric, conv.ties) for metric in conv.metrics}


def scores(ranks: Ranks, conv: Convention) -> dict[str, float]:
    """The mean of each of ``conv``'s metrics over the queries."""
    return {metric: float(v.mean()) for metric, v in values(ranks, conv).items()}

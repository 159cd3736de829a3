"""Scoring predictions made elsewhere (``bench score``): any toolkit's similarities, scored
by bench's conventions into a result and a per-query record like a run's.

The predictions are matched to a dataset's test split by text and file name alone: no
audio is needed, only the split's captions and the dataset's query sets. Which queries
must be there depends on the convention: every caption of the split (``dcase2022``,
``mteb``, ``clap``) or a dataset's query set (``dcase2025``: Clotho's 1,037 annotated
queries). A row may hold any caption of the split or any query of its sets; the result
is marked ``external`` with the file's sha256, and ``rescore``, ``compare``, ``inspect``
and the leaderboard take it as they take a run.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from benchmark.conventions import CAPTIONS, Convention, values
from benchmark.errors import BenchError
from benchmark.predictions import Predictions
from benchmark.queries import QueryList, QueryRecord, Relevance, check_query_sets
from benchmark.uncertainty import intervals

if TYPE_CHECKING:
    from benchmark.api import Split
    from benchmark.data import PreparedDataset
    from benchmark.results import Result


@dataclass(frozen=True)
class Scored:
    """An external scoring: its result and the per-query record behind it."""

    result: Result
    queries: QueryRecord


def _columns(predictions: Predictions, split: Split) -> np.ndarray:
    """The column of each of the split's files; a file missing from the predictions, or a
    column that is not one of the split's files, is named."""
    index = {name: i for i, name in enumerate(predictions.files)}
    names = split.file_names
    known = set(names)
    for column in predictions.files:
        if column not in known:
            twin = next((n for n in names if html.unescape(n) == html.unescape(column)), None)
            hint = (f"; the split spells it {twin!r} (file names as the dataset spells them, HTML entities included)"  # pragma: no mutate
                    if twin else "; columns are the split's file names")  # pragma: no mutate
            raise BenchError(f"{predictions.path}, column {column!r}: not a file of split {split.name!r}{hint}")
    missing = [n for n in names if n not in index]
    if missing:
        raise BenchError(f"{predictions.path}: no column for {missing[0]!r} ({len(missing)} of the split's {len(names)} "
                         "files missing); every file of the split needs a column")
    return np.array([index[n] for n in names])


def _wanted(conv: Convention, split: Split, sets: Mapping[str, QueryList], dataset: str) -> list[str]:
    """The query texts ``conv`` scores on ``split``, each once."""
    if conv.queries == CAPTIONS:
        return list(dict.fromkeys(text for texts in split.captions for text in texts))
    if conv.queries not in sets:
        raise BenchError(f"dataset {dataset} defines no {conv.queries!r} queries on its test split {split.name!r}; "
                         f"the {conv.name} convention scores only those")
    return [text for text, _ in sets[conv.queries]]


def align(predictions: Predictions, split: Split, sets: Mapping[str, QueryList], conv: Convention,
          dataset: str) -> dict[str, np.ndarray]:
    """Each prediction row by its query text, over the split's files in order; a row that is
    neither a caption of the split nor a query of its sets, or a query ``conv`` scores that
    has no row, is named."""
    columns = _columns(predictions, split)
    wanted = _wanted(conv, split, sets, dataset)
    known = {text for texts in split.captions for text in texts} | {text for queries in sets.values() for text, _ in queries}
    for number, text in enumerate(predictions.queries, start=2):
        if text not in known:
            also = f" nor a query of {', '.join(repr(s) for s in sets)}" if sets else ""  # pragma: no mutate
            raise BenchError(f"{predictions.path}, row {number}: query {text!r} is neither a caption of split "
                             f"{split.name!r}{also}; remove the row")
    rows = {text: i for i, text in enumerate(predictions.queries)}
    missing = [text for text in wanted if text not in rows]
    if missing:
        raise BenchError(f"{predictions.path}: no row for query {missing[0]!r} ({len(missing)} of the {len(wanted)} "
                         f"queries the {conv.name} convention scores are missing); every one needs a row")
    return {text: predictions.scores[i, columns] for text, i in rows.items()}


def evaluate(predictions: Predictions, split: Split, sets: Mapping[str, QueryList], conv: Convention,
             relevance: Relevance, dataset: str) -> tuple[QueryRecord, dict[str, np.ndarray], np.ndarray]:
    """The record of ``predictions`` on ``split`` (with the dataset's query ``sets``), the
    per-query values of ``conv``'s metrics and each query's clip."""
    check_query_sets(sets, split.file_names, split.captions)
    record = QueryRecord.from_rows(align(predictions, split, sets, conv, dataset), split.file_names, split.captions,
                                   relevance, sets)
    ranks, clips = record.scored(conv)
    return record, values(ranks, conv), clips


def score(predictions: Predictions, dataset: PreparedDataset, conv: Convention, system: str) -> Scored:
    """Score ``predictions`` on ``dataset``'s test split under ``conv``: the result (marked
    external, with 95% bootstrap intervals) and its per-query record."""
    from benchmark.download import file_sha256
    from benchmark.queries import split_identity
    from benchmark.results import Result, environment, queries_path

    split = dataset.caption_split("test")
    sets = dataset.query_sets(split)
    relevance = dataset.relevance(split) if conv.duplicate_captions_relevant else Relevance(duplicates=False)
    record, per_query, clips = evaluate(predictions, split, sets, conv, relevance, dataset.key)
    config = {"name": system, "external": True}
    n_captions = sum(len(c) for c in split.captions)
    result = Result(
        system=system, dataset=dataset.key, dataset_name=dataset.name, dataset_options=dataset.plugin.options(),
        protocol={"name": dataset.plugin.protocol_name, **dataset.plugin.protocol}, seed=0, config=config,
        metrics={"text_to_audio": {m: float(v.mean()) for m, v in per_query.items()}, "audio_to_text": {}},
        n_clips={"test": len(split)}, n_test_captions=n_captions, convention=conv.name,
        intervals={m: list(b) for m, b in intervals(per_query, clips).items()},
        queries={"file": queries_path(Path("seed-0.json")).name,
                 "split": split_identity(split.file_names, split.captions)},
        relevance=relevance.describe(),
        external={"predictions": str(predictions.path), "sha256": file_sha256(predictions.path),
                  "format": predictions.format, "queries": len(predictions.queries), "files": len(predictions.files)},
        environment=environment(), created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    return Scored(result, record)


def export(record: QueryRecord, query_set: str) -> tuple[list[str], list[str], np.ndarray]:
    """The queries, files and similarities of a record's ``query_set``, as a submission
    holds them; a record that does not keep that set's rows is named."""
    chosen = record.sets.get(query_set)
    if chosen is None:
        raise BenchError(f"the record keeps no {query_set!r} queries: only runs on a split whose dataset defines them "
                         "(clotho_v2's evaluation split), by a bench that keeps their similarity rows, can be exported")
    texts = [text for clip in record.captions for text in clip]
    return [texts[r] for r in chosen.rows], list(record.file_names), chosen.scores

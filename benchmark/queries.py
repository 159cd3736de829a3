"""Per-query records: what a run's test scoring saw, kept so that it can be scored again
without the model.

A record holds, for every query (every caption of the test split), the positions of its
relevant clips (:class:`benchmark.conventions.Ranks`: their scores and how many irrelevant
clips scored above and the same, its own clip and those of identical captions) and the
``TOP`` clips it retrieved first, and the split's file names and captions, so a query can
be shown with what it retrieved. That is enough for any metric, k, tie policy and
duplicate-caption rule of :mod:`benchmark.conventions`, for bootstrap intervals and paired
tests, and for showing the worst queries. It is not the full similarity matrix: at
Clotho's evaluation size (5,225 captions × 1,045 clips) that is 22 MB of float32, the
record about 0.15 MB (measured on random scores).

A dataset may define query sets of its own on a split (:meth:`benchmark.api.Dataset.query_sets`:
DCASE 2025's 1,037 annotated queries of Clotho's evaluation split, each with its listed
clips). For those the record keeps each query's similarity to every clip (4.3 MB for
DCASE 2025 in float32), so they are ranked exactly as the organisers rank them and can be
exported as a submission (``bench export``).

A record is bound to its result: the test split it came from (a hash of its file names and
of its captions), the run's seed and configuration, and its sizes. Reading checks all of
them, and every array's size, before anything is decompressed, so a record of another
split, seed or configuration, an inconsistent one or one inflated to exhaust memory is
refused naming the file.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

from benchmark.conventions import CAPTIONS, Convention, Ranks, ranks, relevant_clips
from benchmark.errors import BenchError
from benchmark.io import atomic_path, stable_hash

if TYPE_CHECKING:
    from benchmark.api import Split

#: Version 2 binds a record to its result (seed, configuration, sizes), keeps ties by id and
#: a dataset's query sets; version 1 records are still read.
VERSION = 2
READABLE = (1, 2)
#: Clips kept per query, best first: enough to show the top 5 and draw R@k for k <= 10
#: without the ranks; R@k beyond that comes from the ranks.
TOP = 10
_OPTIONAL = ("grade", "ahead")
_SET = ("rows", "offsets", "clips", "scores")
#: A dataset's judgements for one caption: the other relevant clips' file names (each as
#: relevant as the caption's own clip), or a file name → grade mapping (graded relevance).
Judgement = Union[Sequence[str], Mapping[str, float]]
#: A dataset's query set as it defines it: (query text, the file names relevant to it).
QueryList = Sequence[tuple[str, Sequence[str]]]


@dataclass(frozen=True)
class Relevance:
    """Which clips count as relevant to a split's captions besides their own: those of
    identical captions (``duplicates``), and the dataset's judgements (``judged[q]``: clip
    index → grade for caption ``q``, or None without judgements; ``graded`` when the
    dataset gave grades rather than lists)."""

    duplicates: bool = True
    judged: tuple[dict[int, float], ...] | None = None
    graded: bool = False

    @classmethod
    def of(cls, split: Split, duplicates: bool, judged: Sequence[Judgement] | None) -> Relevance:
        """From a dataset's judgements by file name; a name not in the split, a grade that is
        not a finite number >= 0, or a list per caption that does not match the split's
        captions, is refused. A grade of 0 judges a clip not relevant."""
        if judged is None:
            return cls(bool(duplicates))
        n_captions = sum(len(c) for c in split.captions)
        if len(judged) != n_captions:
            raise BenchError(f"relevance judgements of split {split.name!r} cover {len(judged)} captions, "
                             f"but the split has {n_captions}")
        graded = any(isinstance(j, Mapping) for j in judged)
        grades = [dict(j) if isinstance(j, Mapping) else dict.fromkeys(j, 1.0) for j in judged]
        index = {name: i for i, name in enumerate(split.file_names)}
        unknown = sorted({name for g in grades for name in g if name not in index})
        if unknown:
            raise BenchError(f"relevance judgements of split {split.name!r} name {unknown[0]!r}, which is not one of its clips")
        bad = next(((name, grade) for g in grades for name, grade in g.items()
                     if not isinstance(grade, (int, float)) or not np.isfinite(grade) or grade < 0), None)
        if bad:
            raise BenchError(f"relevance judgements of split {split.name!r} grade {bad[0]!r} {bad[1]!r}; "
                             "grades are numbers >= 0 (0: not relevant)")
        return cls(bool(duplicates), tuple({index[n]: float(v) for n, v in g.items() if v > 0} for g in grades), graded)

    def clips(self, captions: Sequence[Sequence[str]]) -> list[list[int]]:
        """For every caption, its own clip first, then the others relevant to it."""
        return [list(g) for g in self._graded(captions)]

    def grades(self, captions: Sequence[Sequence[str]]) -> list[list[float]] | None:
        """The grades of :meth:`clips`, in its order; None unless the judgements are graded."""
        return [list(g.values()) for g in self._graded(captions)] if self.graded else None

    def _graded(self, captions: Sequence[Sequence[str]]) -> list[dict[int, float]]:
        """Each caption's relevant clips with their grades, its own clip first. The own clip,
        and clips of identical captions, take the caption's highest judged grade (1 without
        grades) unless the judgements grade them."""
        relevant = relevant_clips(captions, self.duplicates)
        if self.judged is None:
            return [dict.fromkeys(r, 1.0) for r in relevant]
        out = []
        for r, judged in zip(relevant, self.judged):
            top = max(judged.values(), default=1.0)
            graded = {clip: judged.get(clip, top) for clip in r}
            graded.update((clip, judged[clip]) for clip in sorted(set(judged) - set(r)))
            out.append(graded)
        return out

    def describe(self) -> dict[str, bool]:
        """The policy, as a result records it."""
        return {"own_clip": True, "identical_captions": self.duplicates, "judged": self.judged is not None,
                "graded": self.graded}


def split_identity(file_names: Sequence[str], captions: Sequence[Sequence[str]]) -> dict[str, str]:
    """What identifies a test split: its clips and their captions, in order."""
    return {"files": stable_hash(list(file_names), 16), "captions": stable_hash([list(c) for c in captions], 16)}


def caption_clips(captions: Sequence[Sequence[str]]) -> np.ndarray:
    """The clip of every caption, clip by clip in order: the queries' own clips."""
    return np.repeat(np.arange(len(captions)), [len(c) for c in captions])


def _resolve(name: str, queries: QueryList, file_names: Sequence[str],
             captions: Sequence[Sequence[str]]) -> tuple[list[int], list[list[int]]]:
    """Each query's caption row (the first caption with its text) and relevant clips; a query
    that is not a caption of the split, listed twice or with no file, or a file not in the
    split, is refused naming the set and the query."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise BenchError(f"query set name {name!r}: use letters, digits, '_' and '-'")
    row_of: dict[str, int] = {}
    for row, text in enumerate(text for texts in captions for text in texts):
        row_of.setdefault(text, row)
    index = {file: i for i, file in enumerate(file_names)}
    rows, relevant, seen = [], [], set()
    for number, (text, files) in enumerate(queries, start=1):
        where = f"query set {name!r}, query {number} ({text!r})"
        if text in seen:
            raise BenchError(f"{where} is listed twice; each query once")
        seen.add(text)
        if text not in row_of:
            raise BenchError(f"{where} is not a caption of the split; is it the split the query set was made for?")
        unknown = [f for f in files if f not in index]
        if unknown:
            raise BenchError(f"{where} lists {unknown[0]!r}, which is not a file of the split")
        if not files or len(set(files)) != len(files):
            raise BenchError(f"{where} lists {'no file' if not files else 'a file twice'}; each relevant file once")
        rows.append(row_of[text])
        relevant.append([index[f] for f in files])
    return rows, relevant


def check_query_sets(sets: Mapping[str, QueryList], file_names: Sequence[str], captions: Sequence[Sequence[str]]) -> None:
    """Refuse, before any expensive work, a dataset's query set that does not fit its split."""
    for name, queries in sets.items():
        _resolve(name, queries, file_names, captions)


@dataclass(frozen=True)
class QuerySet:
    """One of a dataset's own query sets on a split: query ``q`` is caption ``rows[q]`` (the
    first caption with its text), its relevant clips are ``clips[offsets[q]:offsets[q + 1]]``
    (exactly those: its caption's own clip only where listed), and ``scores[q]`` is its
    similarity to every clip, kept whole so it ranks exactly as scored and can be exported."""

    rows: np.ndarray
    offsets: np.ndarray
    clips: np.ndarray
    scores: np.ndarray

    @classmethod
    def build(cls, name: str, queries: QueryList, file_names: Sequence[str], captions: Sequence[Sequence[str]],
              similarity_of: Mapping[str, np.ndarray]) -> QuerySet:
        """Query set ``name`` from a dataset's list of ``(query, relevant file names)``
        (:func:`check_query_sets`), each query's similarities from ``similarity_of[text]``."""
        rows, relevant = _resolve(name, queries, file_names, captions)
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in relevant])]).astype(np.int64)
        scores = (np.stack([np.asarray(similarity_of[text]) for text, _ in queries]) if queries
                  else np.zeros((0, len(file_names))))
        return cls(np.array(rows, dtype=np.int64), offsets, np.array([c for r in relevant for c in r], dtype=np.int64),
                   scores)

    def ranks(self, own: np.ndarray, ids: Sequence[str]) -> Ranks:
        """The :class:`Ranks` of the set's queries; ``own[c]`` is caption ``c``'s clip."""
        relevant = [self.clips[lo:hi] for lo, hi in zip(self.offsets[:-1], self.offsets[1:])]
        return ranks(self.scores.astype(np.float64), relevant, own=own[self.rows], ids=ids or None)


@dataclass(frozen=True)
class Expected:
    """What a result says of its record, checked when the record is read: the test split,
    the run's seed and configuration digest, the number of captions and clips."""

    split: Mapping[str, str]
    seed: int
    config: str
    n_captions: int
    n_clips: int


def config_digest(config: Mapping[str, Any]) -> str:
    """The digest of a resolved configuration that binds a record to its result."""
    return stable_hash(json.loads(json.dumps(config, default=str)), 16)


@dataclass(frozen=True)
class QueryRecord:
    """The per-query record of one run's test scoring: ``ranks`` of every caption (None when
    only a dataset's query set was scored, as for external predictions), the ``top`` clips
    each retrieved, the split's identity, files and captions, the dataset's query ``sets``,
    and what binds it to its result (``binding``: seed, configuration digest; empty before
    it is written with one)."""

    ranks: Ranks | None
    top: np.ndarray | None
    split: Mapping[str, str]
    file_names: tuple[str, ...] = ()
    captions: tuple[tuple[str, ...], ...] = ()
    sets: Mapping[str, QuerySet] = field(default_factory=dict)
    binding: Mapping[str, Any] = field(default_factory=dict)

    @property
    def clip_of(self) -> np.ndarray:
        """Each caption's own clip (one per caption, in query order)."""
        if self.captions:
            return caption_clips(self.captions)
        assert self.ranks is not None  # a version 1 record without captions has its ranks
        return self.ranks.clip[self.ranks.own]

    @property
    def own_rank(self) -> np.ndarray:
        """Where each caption ranks its own clip, ties counted against it (DCASE 2022's rank)."""
        return self.caption_ranks().own_only().positions("pessimistic")

    def caption_ranks(self) -> Ranks:
        """The ranks of every caption; refused for a record of a query set alone."""
        if self.ranks is None:
            raise BenchError(f"the record holds only the {', '.join(sorted(self.sets))} queries, not every caption; "
                             f"score it with --convention {next(iter(sorted(self.sets)), '')}")
        return self.ranks

    def scored(self, conv: Convention) -> tuple[Ranks, np.ndarray]:
        """The ranks of the queries ``conv`` scores and each query's clip (the unit the
        bootstrap resamples)."""
        if conv.queries == CAPTIONS:
            return self.caption_ranks(), self.clip_of
        chosen = self.sets.get(conv.queries)
        if chosen is None:
            raise BenchError(
                f"the record holds no {conv.queries!r} queries (its dataset defines none for this split, or an "
                f"earlier bench wrote it); the {conv.name} convention scores only those")
        clips = self.clip_of
        return chosen.ranks(clips, self.file_names), clips[chosen.rows]

    @classmethod
    def from_similarity(cls, similarity: np.ndarray, file_names: Sequence[str], captions: Sequence[Sequence[str]],
                        relevance: Relevance = Relevance(), sets: Mapping[str, QueryList] | None = None) -> QueryRecord:
        """The record of a ``(n_captions, n_clips)`` similarity matrix over a split's clips
        and captions (queries clip by clip, in order), keeping as relevant what ``relevance``
        says besides each caption's own clip, and the dataset's query ``sets``."""
        texts = [text for clip in captions for text in clip]
        row_of: dict[str, np.ndarray] = {}
        for row, text in enumerate(texts):
            row_of.setdefault(text, similarity[row])
        return cls.from_rows(row_of, file_names, captions, relevance, sets, similarity)

    @classmethod
    def from_rows(cls, row_of: Mapping[str, np.ndarray], file_names: Sequence[str], captions: Sequence[Sequence[str]],
                  relevance: Relevance = Relevance(), sets: Mapping[str, QueryList] | None = None,
                  similarity: np.ndarray | None = None) -> QueryRecord:
        """The record of similarities given per query text (``row_of[text]`` over the split's
        clips): every caption is ranked when every caption's text has a row (or the caption
        rows come whole in ``similarity``), and each query set whose queries all have one."""
        texts = [text for clip in captions for text in clip]
        if similarity is None and all(text in row_of for text in texts):
            similarity = np.array([row_of[text] for text in texts]).reshape(len(texts), len(file_names))
        caption_ranks = top = None
        if similarity is not None:
            relevant, grades = relevance.clips(captions), relevance.grades(captions)
            top = np.argsort(-similarity, axis=1, kind="stable")[:, :TOP].astype(np.int32)  # ties: the lower index
            caption_ranks = ranks(similarity, relevant, grades, ids=list(file_names))
        built = {name: QuerySet.build(name, queries, file_names, captions, row_of) for name, queries in (sets or {}).items()
                 if all(text in row_of for text, _ in queries)}
        return cls(caption_ranks, top, split_identity(file_names, captions), tuple(file_names),
                   tuple(tuple(c) for c in captions), built)

    def bound(self, seed: int, config: Mapping[str, Any]) -> QueryRecord:
        """This record bound to the result of run ``seed`` with resolved ``config``."""
        return replace(self, binding={"seed": int(seed), "config": config_digest(config),
                                      "n_captions": len(self.clip_of), "n_clips": len(self.file_names)})

    def write(self, path: Path) -> None:
        """Write the record atomically as a compressed ``.npz``."""
        arrays: dict[str, np.ndarray] = {}
        r = self.ranks
        if r is not None:
            arrays.update(offsets=r.offsets.astype(np.int64), clip=r.clip.astype(np.int32), better=r.better.astype(np.int32),
                          tied=r.tied.astype(np.int32), score=r.score.astype(np.float32), own=r.own)
            if r.grade is not None:
                arrays["grade"] = r.grade.astype(np.float32)
            if r.ahead is not None:
                arrays["ahead"] = r.ahead.astype(np.int32)
        if self.top is not None:
            arrays["top"] = self.top
        for name, s in self.sets.items():
            arrays.update({f"set.{name}.rows": s.rows.astype(np.int32), f"set.{name}.offsets": s.offsets.astype(np.int64),
                           f"set.{name}.clips": s.clips.astype(np.int32), f"set.{name}.scores": s.scores})
        meta = json.dumps({"version": VERSION, "split": dict(self.split), "file_names": list(self.file_names),
                           "captions": [list(c) for c in self.captions], "sets": sorted(self.sets),
                           "binding": dict(self.binding)})
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, meta=np.array(meta), **arrays)


def _caps(expected: Expected) -> dict[str, int]:
    """The most bytes each member of a record of ``expected``'s sizes may hold."""
    q, c = expected.n_captions, expected.n_clips
    entries = 8 * q * c  # relevant clips: at most every clip of every query
    caps = {"meta": 4 * (2**20 + 1024 * (q + c)), "offsets": 8 * (q + 1), "top": 8 * q * TOP}
    caps.update(dict.fromkeys(("clip", "better", "tied", "score", "own", *_OPTIONAL), entries))
    caps.update({"set.rows": 8 * q, "set.offsets": 8 * (q + 1), "set.clips": entries, "set.scores": entries})
    return caps


def _member(name: str) -> str:
    """The kind of an archive member: ``set.dcase2025.rows.npy`` is ``set.rows``."""
    name = name.removesuffix(".npy")
    parts = name.split(".")
    return f"set.{parts[-1]}" if parts[0] == "set" and len(parts) >= 3 else name


def _load(path: Path, caps: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, each checked against its cap in ``caps``
    from the sizes its zip entry and its header declare, before it is decompressed."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            kind = _member(info.filename)
            if kind not in caps:
                raise ValueError(f"unexpected member {info.filename}")
            if info.file_size > caps[kind] + 4096:
                raise MemoryError(f"its member {info.filename} unpacks to {info.file_size:,} bytes, more than the "
                                  f"{caps[kind]:,} its split's size allows")
            with archive.open(info) as handle:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read_header(handle)
                if dtype.hasobject or fortran:
                    raise ValueError(f"member {info.filename} is not a plain array")
                size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if size > caps[kind]:
                    raise MemoryError(f"its member {info.filename} declares {size:,} bytes, more than the {caps[kind]:,} "
                                      "its split's size allows")
                data = handle.read(size)
                if len(data) != size:
                    raise ValueError(f"member {info.filename} is cut short")
                out[info.filename.removesuffix(".npy")] = np.frombuffer(data, dtype=dtype).reshape(shape)
    return out


def read(path: Path, expected: Expected) -> QueryRecord:
    """The record at ``path``, checked against what its result says (``expected``): sizes
    before anything is decompressed, then the split, seed and configuration, and that its
    arrays agree in shape, range and count. A missing, damaged, foreign, inconsistent or
    oversized file is a one-line error naming it."""
    if not path.is_file():
        raise BenchError(f"per-query record {path} does not exist; re-run the result's run to write it")
    try:
        data = _load(path, _caps(expected))
        meta = json.loads(str(data.pop("meta")[()]))
    except MemoryError as exc:
        raise BenchError(f"per-query record {path} is too large for its split: {exc}; it is not a record bench wrote, "
                         "move it aside") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, TypeError, IndexError) as exc:
        raise BenchError(f"per-query record {path} is damaged or not a record ({exc}); re-run to write it again") from None
    if not isinstance(meta, dict) or meta.get("version") not in READABLE:
        version = meta.get("version") if isinstance(meta, dict) else None
        raise BenchError(f"per-query record {path} has version {version!r}; this bench reads versions "
                         f"{', '.join(map(str, READABLE))}")
    try:
        record = _record(data, meta)
        _check(record, expected)
    except _Inconsistent as exc:
        raise BenchError(f"per-query record {path} does not match its result: {exc}; it belongs to another run, "
                         "or was altered: re-run this result to write its record again") from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise BenchError(f"per-query record {path} is inconsistent ({exc}); re-run to write it again") from None
    return record


class _Inconsistent(Exception):
    """A record that does not belong to the result it is read for."""


def _record(data: dict[str, np.ndarray], meta: dict[str, Any]) -> QueryRecord:
    """The record in ``data`` and ``meta``, as read (not yet checked)."""
    r = None
    if "offsets" in data:
        r = Ranks(data["offsets"].astype(np.int64), data["clip"].astype(np.int64), data["better"].astype(np.int64),
                  data["tied"].astype(np.int64), data["score"], data["own"].astype(bool),
                  data["grade"].astype(np.float64) if "grade" in data else None,
                  data["ahead"].astype(np.int64) if "ahead" in data else None)
    sets = {}
    for name in meta.get("sets", []):
        rows, offsets, clips, scores = (data[f"set.{name}.{part}"] for part in _SET)
        sets[str(name)] = QuerySet(rows.astype(np.int64), offsets.astype(np.int64), clips.astype(np.int64), scores)
    return QueryRecord(r, data.get("top"), meta["split"], tuple(meta.get("file_names", ())),
                       tuple(tuple(c) for c in meta.get("captions", ())), sets, meta.get("binding", {}))


def _check(record: QueryRecord, expected: Expected) -> None:
    """Raise ValueError (inconsistent arrays) or :class:`_Inconsistent` (another run's)."""
    if dict(record.split) != dict(expected.split):
        raise _Inconsistent("it is of another test split (its clips or captions differ from the result's)")
    bound = record.binding
    for what, mine, theirs in (("seed", bound.get("seed"), expected.seed),
                               ("configuration", bound.get("config"), expected.config)):
        if bound and mine != theirs:
            raise _Inconsistent(f"it was written by a run of another {what} ({mine} vs the result's {theirs})")
    n_clips = len(record.file_names) or expected.n_clips
    if record.captions:
        n_captions = sum(len(c) for c in record.captions)
        if (n_captions, n_clips) != (expected.n_captions, expected.n_clips):
            raise _Inconsistent(f"it holds {n_captions} captions of {n_clips} clips, the result "
                                f"{expected.n_captions} of {expected.n_clips}")
        if len(record.captions) != n_clips:
            raise ValueError(f"{len(record.captions)} clips' captions for {n_clips} files")
    r = record.ranks
    if r is not None and r.n_queries != expected.n_captions:
        raise _Inconsistent(f"it holds {r.n_queries} queries, the result {expected.n_captions} captions")
    if r is not None:
        _check_ranks(r, n_clips, record.clip_of if record.captions else None)
        if record.top is None or record.top.ndim != 2 or len(record.top) != r.n_queries:
            raise ValueError("its top clips are not one row per query")
    if record.top is not None and record.top.size and (record.top.min() < 0 or record.top.max() >= n_clips):
        raise ValueError("a top clip lies outside the split")
    n_rows = sum(len(c) for c in record.captions)  # a record with query sets keeps its captions
    for name, s in record.sets.items():
        n = len(s.rows)
        if s.offsets.shape != (n + 1,) or s.offsets[0] != 0 or (np.diff(s.offsets) < 1).any() or s.offsets[-1] != len(s.clips):
            raise ValueError(f"query set {name!r}: its relevant clips are not listed per query")
        if s.scores.shape != (n, n_clips) or not np.isfinite(s.scores).all():
            raise ValueError(f"query set {name!r}: its scores are not finite, one row per query and a column per clip")
        if n and (s.rows.min() < 0 or s.rows.max() >= n_rows or s.clips.min() < 0 or s.clips.max() >= n_clips):
            raise ValueError(f"query set {name!r}: a query or clip lies outside the split")


def _check_ranks(r: Ranks, n_clips: int, clip_of: np.ndarray | None) -> None:
    """Shapes, ranges and counts of a record's ranks, consistent with each other and the split."""
    n = len(r.clip)
    if r.offsets.ndim != 1 or r.offsets[0] != 0 or r.offsets[-1] != n or (np.diff(r.offsets) < 1).any():
        raise ValueError("its arrays disagree in length")
    arrays = (r.better, r.tied, r.score, r.own, *(a for a in (r.grade, r.ahead) if a is not None))
    if any(a.shape != (n,) for a in arrays):
        raise ValueError("its arrays disagree in length")
    if n and (r.clip.min() < 0 or r.clip.max() >= n_clips):
        raise ValueError("a relevant clip lies outside the split")
    irrelevant = n_clips - np.repeat(r.counts(), r.counts())
    if (r.better < 0).any() or (r.tied < 0).any() or (r.better + r.tied > irrelevant).any():
        raise ValueError("a count of clips above or tied is negative or exceeds the clips that are not relevant")
    if r.ahead is not None and ((r.ahead < 0).any() or (r.ahead > n_clips - 1).any()):
        raise ValueError("a count of ties by id is out of range")
    if not np.isfinite(r.score).all() or (r.grade is not None and not (r.grade > 0).all()):
        raise ValueError("a score is not finite or a grade not positive")
    if (np.add.reduceat(r.own.astype(np.int64), r.offsets[:-1]) != 1).any():
        raise ValueError("a caption does not list its own clip exactly once")
    if clip_of is not None and (len(clip_of) != r.n_queries or (r.clip[r.own] != clip_of).any()):
        raise ValueError("a caption's own clip is not the clip it belongs to")

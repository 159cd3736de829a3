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

The record names the test split it came from (a hash of its file names and of its
captions), so a record of another split is refused rather than compared.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence, Union

import numpy as np

from benchmark.conventions import Ranks, ranks, relevant_clips
from benchmark.errors import BenchError
from benchmark.io import atomic_path, stable_hash

if TYPE_CHECKING:
    from benchmark.api import Split

VERSION = 1
#: Clips kept per query, best first: enough to show the top 5 and draw R@k for k <= 10
#: without the ranks; R@k beyond that comes from the ranks.
TOP = 10
_ARRAYS = ("offsets", "clip", "better", "tied", "score", "own", "top")
#: A dataset's judgements for one caption: the other relevant clips' file names (each as
#: relevant as the caption's own clip), or a file name → grade mapping (graded relevance).
Judgement = Union[Sequence[str], Mapping[str, float]]


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


@dataclass(frozen=True)
class QueryRecord:
    """The per-query record of one run's test scoring; ``clip_of[q]`` is query ``q``'s own clip."""

    ranks: Ranks
    top: np.ndarray
    split: dict[str, str]
    file_names: tuple[str, ...] = ()
    captions: tuple[tuple[str, ...], ...] = ()

    @property
    def clip_of(self) -> np.ndarray:
        """Each query's own clip (one per query, in query order)."""
        return self.ranks.clip[self.ranks.own]

    @property
    def own_rank(self) -> np.ndarray:
        """Where each query ranks its own clip, ties counted against it (DCASE 2022's rank)."""
        return self.ranks.own_only().positions("pessimistic")

    @classmethod
    def from_similarity(cls, similarity: np.ndarray, file_names: Sequence[str], captions: Sequence[Sequence[str]],
                        relevance: Relevance = Relevance()) -> QueryRecord:
        """The record of a ``(n_captions, n_clips)`` similarity matrix over a split's clips
        and captions (queries clip by clip, in order), keeping as relevant what ``relevance``
        says besides each caption's own clip, for the conventions that count it."""
        relevant, grades = relevance.clips(captions), relevance.grades(captions)
        k = min(TOP, similarity.shape[1])
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1).astype(np.int32)
        return cls(ranks(similarity, relevant, grades), top, split_identity(file_names, captions), tuple(file_names),
                   tuple(tuple(c) for c in captions))

    def write(self, path: Path) -> None:
        """Write the record atomically as a compressed ``.npz``."""
        r = self.ranks
        arrays = {"offsets": r.offsets.astype(np.int64), "clip": r.clip.astype(np.int32),
                  "better": r.better.astype(np.int32), "tied": r.tied.astype(np.int32),
                  "score": r.score.astype(np.float32), "own": r.own, "top": self.top}
        if r.grade is not None:
            arrays["grade"] = r.grade.astype(np.float32)
        meta = json.dumps({"version": VERSION, "split": self.split, "file_names": list(self.file_names),
                           "captions": [list(c) for c in self.captions]})
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, meta=np.array(meta), **arrays)


def read(path: Path, split: dict[str, str] | None = None) -> QueryRecord:
    """The record at ``path``; with ``split``, refused unless it is that split's. A missing,
    truncated or foreign file is a one-line error naming it."""
    if not path.is_file():
        raise BenchError(f"per-query record {path} does not exist; re-run the result's run to write it")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in _ARRAYS}
            grade = data["grade"].astype(np.float64) if "grade" in data else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise BenchError(f"per-query record {path} is damaged or not a record ({exc}); re-run to write it again") from None
    if meta.get("version") != VERSION:
        raise BenchError(f"per-query record {path} has version {meta.get('version')!r}; this bench reads version {VERSION}")
    if split is not None and meta.get("split") != split:
        raise BenchError(f"per-query record {path} is of another test split (its clips or captions differ from the result's)")
    offsets = arrays["offsets"]
    if offsets.ndim != 1 or offsets[0] != 0 or offsets[-1] != len(arrays["clip"]) or len(arrays["top"]) != len(offsets) - 1:
        raise BenchError(f"per-query record {path} is inconsistent (its arrays disagree in length); re-run to write it again")
    r = Ranks(offsets, arrays["clip"].astype(np.int64), arrays["better"].astype(np.int64), arrays["tied"].astype(np.int64),
              arrays["score"], arrays["own"].astype(bool), grade)
    return QueryRecord(r, arrays["top"], meta["split"], tuple(meta.get("file_names", ())),
                       tuple(tuple(c) for c in meta.get("captions", ())))

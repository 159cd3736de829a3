"""Retrieval predictions made by any toolkit, as files: query texts × audio file names ×
similarities.

Two formats are read. The DCASE 2025 task 6 submission CSV, as the organisers' baseline
writes it (CPJKU/dcase2025_task6_baseline, ``d25_t6/predict.py``: a pandas frame written with
``to_csv``): a header row whose first cell names the index (``index``) and whose other cells
are the audio file names as the dataset spells them (Clotho's carry HTML entities such as
``&#39;``), then one row per query, its text first and a similarity per file. And a
similarity matrix in ``.npy`` (``(n_queries, n_files)``, float) with two text files listing
its queries and its files, one per line, in order.

Every cell is checked before anything is scored: a duplicate, empty or missing column or
row, a cell that is not a finite number, a matrix whose shape disagrees with its lists, is
one line naming the row or column and what to do.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.errors import BenchError
from benchmark.io import atomic_path, read_text

#: The first header cell of the submission CSV, as pandas writes the baseline's index.
INDEX = "index"


@dataclass(frozen=True)
class Predictions:
    """Similarities of ``queries[q]`` to ``files[f]`` in ``scores[q, f]``, read from ``path``."""

    path: Path
    queries: tuple[str, ...]
    files: tuple[str, ...]
    scores: np.ndarray
    format: str


def _unique(names: Sequence[str], what: str, where: str) -> None:
    """Refuse an empty or repeated name, naming it and where it is."""
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name.strip():
            raise BenchError(f"{where}: {what} {number} is empty; every {what} names one")
        if name in seen:
            raise BenchError(f"{where}: {what} {number} repeats {what} {seen[name]} ({name!r}); each appears once")
        seen[name] = number


def _finite(scores: np.ndarray, path: Path, queries: Sequence[str], files: Sequence[str], first_row: int) -> None:
    """Refuse a NaN or infinite similarity, naming its row and column."""
    bad = np.argwhere(~np.isfinite(scores))
    if len(bad):
        q, f = bad[0]
        raise BenchError(f"{path}, row {int(q) + first_row} ({queries[q]!r}), column {files[f]!r}: similarity "
                         f"{scores[q, f]} is not a finite number; every cell must be one")


def read_csv(path: Path) -> Predictions:
    """The predictions in a DCASE 2025 submission CSV (see the module's docstring)."""
    rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    if not rows or len(rows[0]) < 2:
        raise BenchError(f"{path}: expected a header row '{INDEX},<file name>,…' and a row per query")
    files = rows[0][1:]
    _unique(files, "column", f"{path}, header")
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise BenchError(f"{path}: no query rows after the header")
    for line, row in enumerate(rows[1:], start=2):
        if any(cell.strip() for cell in row) and len(row) != len(rows[0]):
            raise BenchError(f"{path}, row {line}: {len(row)} cells, the header has {len(rows[0])}; "
                             "a row is its query and one similarity per file")
    queries = [row[0] for row in body]
    _unique(queries, "query row", str(path))
    try:
        scores = np.array([row[1:] for row in body], dtype=np.float64)
    except ValueError:
        for q, row in enumerate(body):
            for f, cell in enumerate(row[1:]):
                try:
                    float(cell)
                except ValueError:
                    raise BenchError(f"{path}, row {q + 2} ({row[0]!r}), column {files[f]!r}: {cell!r} is not a number; "
                                     "every cell must be a similarity") from None
        raise
    _finite(scores, path, queries, files, 2)
    return Predictions(path, tuple(queries), tuple(files), scores, "dcase2025-csv")


def _lines(path: Path, what: str) -> list[str]:
    """The non-empty lines of a list file (queries or files), line ends stripped."""
    if not path.is_file():
        raise BenchError(f"{what} list {path} does not exist; give a text file with one per line, in the matrix's order")
    return [line for line in read_text(path).split("\n") if line.strip()]


def read_npy(path: Path, queries_file: Path, files_file: Path) -> Predictions:
    """The predictions in a ``.npy`` matrix with its query and file lists; the matrix's
    header is checked against the lists before its data is read."""
    queries, files = _lines(queries_file, "query"), _lines(files_file, "file")
    _unique(queries, "query", str(queries_file))
    _unique(files, "file", str(files_file))
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable .npy matrix ({exc})") from None
    if matrix.shape != (len(queries), len(files)) or matrix.dtype.kind not in "fiu":
        raise BenchError(f"{path}: a {matrix.dtype} matrix of shape {matrix.shape}, but {queries_file} lists "
                         f"{len(queries)} queries and {files_file} {len(files)} files; expected floats of shape "
                         f"({len(queries)}, {len(files)})")
    scores = np.array(matrix, dtype=np.float64)
    _finite(scores, path, queries, files, 1)
    return Predictions(path, tuple(queries), tuple(files), scores, "npy")


def read(path: Path, queries: Path | None = None, files: Path | None = None) -> Predictions:
    """Predictions from ``path``: a ``.npy`` matrix (with its ``queries`` and ``files``
    lists) or a submission CSV."""
    if not path.is_file():
        raise BenchError(f"predictions file {path} does not exist")
    if path.suffix.lower() == ".npy":
        if queries is None or files is None:
            raise BenchError(f"{path} is a matrix: name its query and file lists with --queries and --files")
        return read_npy(path, queries, files)
    return read_csv(path)


def write_csv(path: Path, queries: Sequence[str], files: Sequence[str], scores: np.ndarray) -> None:
    """Write a DCASE 2025 submission CSV atomically; each similarity in its shortest exact
    form, so reading it back gives the same numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([INDEX, *files])
    for query, row in zip(queries, scores):
        writer.writerow([query, *(repr(float(x)) for x in row)])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")

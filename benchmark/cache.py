"""On-disk cache of per-clip embedding sequences (expert frames, caption embeddings).

A cache entry is a directory named by a hash of its key (what computed it, on which
dataset and split). It is filled chunk by chunk, each chunk written atomically, so an
interrupted extraction resumes with only the missing chunks. When every chunk is there
they are packed into one ``frames.npy`` (read memory-mapped) plus ``offsets.npy``, and the
``COMPLETE`` marker is written last: an entry without it is never read as finished, and
one with it whose files turn out truncated or missing is computed again.

Several processes can fill one entry (``bench extract --shard i/n``, or the ranks of a
``torchrun`` job): each computes the chunks numbered ``i`` modulo ``n``; whoever finds
every chunk present packs them, under an exclusive lock, so the marker is written once.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from benchmark.errors import BenchError
from benchmark.io import (
    WriteFailed,
    atomic_path,
    create_exclusive,
    holder_alive,
    make_directory,
    stable_hash,
    write_json,
)
from benchmark.progress import Progress

MARKER = "COMPLETE"

#: ``compute(indices)`` returns one ``(frames, dim)`` array per index.
ComputeFn = Callable[[Sequence[int]], list[np.ndarray]]


class SequenceStore:
    """Variable-length sequences packed end to end; ``store[i]`` is clip ``i``'s ``(frames, dim)``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.frames = np.load(directory / "frames.npy", mmap_mode="r")
        self.offsets = np.load(directory / "offsets.npy")
        self.ids: list[str] = json.loads((directory / "ids.json").read_text(encoding="utf-8"))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.frames[self.offsets[index] : self.offsets[index + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def dim(self) -> int:
        return int(self.frames.shape[1])

    def batch(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Zero-padded ``[len(indices), max_frames, dim]`` array and the true lengths."""
        lengths = self.lengths[np.asarray(indices)]
        out = np.zeros((len(indices), max(int(lengths.max()), 1), self.dim), dtype=np.float32)
        for row, index in enumerate(indices):
            sequence = self[index]
            out[row, : len(sequence)] = sequence
        return out, lengths


class ConcatStore(SequenceStore):
    """Several stores read as one, clip indices running through them in order."""

    def __init__(self, stores: Sequence[SequenceStore]) -> None:
        self.stores = list(stores)
        if len({s.dim for s in self.stores}) != 1:
            raise BenchError("cannot concatenate embedding stores of different dimensions")
        self.starts = np.cumsum([0] + [len(s) for s in self.stores])
        self.ids = [i for s in self.stores for i in s.ids]
        self.offsets = np.concatenate([[0], np.cumsum(np.concatenate([s.lengths for s in self.stores]))])

    def __getitem__(self, index: int) -> np.ndarray:
        part = int(np.searchsorted(self.starts, index, side="right") - 1)
        return self.stores[part][index - self.starts[part]]

    @property
    def dim(self) -> int:
        return self.stores[0].dim


class DamagedEntry(BenchError):
    """A cache entry marked complete whose files are truncated, missing or inconsistent."""

    def __init__(self, directory: Path, problem: str) -> None:
        self.directory, self.problem = directory, problem
        super().__init__(f"embedding cache {directory} is damaged ({problem}); delete that directory and re-run")


class EmbeddingCache:
    """One cache entry: ``root/<group>/<name>/<hash(key)>``."""

    def __init__(self, root: Path, group: str, name: str, key: dict[str, Any]) -> None:
        self.key = key
        self.directory = Path(root) / group / name / stable_hash(key, 16)

    @property
    def complete(self) -> bool:
        return (self.directory / MARKER).is_file()

    def load(self) -> SequenceStore:
        """The finished store, checked against the marker, so a damaged entry (a truncated
        or missing file) is a :class:`DamagedEntry` rather than wrong data or a traceback."""
        if not self.complete:
            raise BenchError(f"embedding cache {self.directory} is incomplete; re-run to finish it")
        try:
            store = SequenceStore(self.directory)
            marker = json.loads((self.directory / MARKER).read_text(encoding="utf-8"))
            expected = (marker["n_clips"], marker["n_frames"], marker["dim"])
        except (OSError, ValueError, EOFError, KeyError, TypeError) as exc:
            raise DamagedEntry(self.directory, f"{type(exc).__name__}: {exc}") from exc
        offsets, frames = store.offsets, store.frames
        if not (
            frames.ndim == 2
            and offsets.ndim == 1
            and len(offsets) == len(store.ids) + 1
            and offsets[0] == 0
            and offsets[-1] == len(frames)
            and (np.diff(offsets) >= 0).all()
            and (len(store.ids), len(frames), frames.shape[1]) == expected
        ):
            raise DamagedEntry(
                self.directory,
                f"its files hold {len(store.ids)} clips, {len(offsets)} offsets and frames of shape {frames.shape}, "
                f"where {MARKER} says {expected[0]} clips, {expected[1]} frames of dimension {expected[2]}",
            )
        return store

    def _finished(self, ids: list[str]) -> SequenceStore | None:
        """The finished store of exactly ``ids``, or None while the entry is not finished. A
        damaged entry is unmarked and None returned, so it is computed again (reusing any
        chunks still there) rather than the user having to find and delete it."""
        if not self.complete:
            return None
        try:
            store = self.load()
        except DamagedEntry as exc:
            print(
                f"warning: embedding cache {self.directory} is damaged ({exc.problem}); computing it again",
                file=sys.stderr,
            )
            for name in (MARKER, "frames.npy", "offsets.npy", "ids.json"):  # the marker first
                (self.directory / name).unlink(missing_ok=True)
            return None
        self._remove_chunks()  # left by a run that wrote a chunk after this entry was packed
        if store.ids != ids:
            raise BenchError(
                f"embedding cache {self.directory} holds different clips than the dataset lists; "
                "the dataset changed on disk: delete that directory and re-run"
            )
        return store

    def get_or_compute(
        self,
        ids: Sequence[str],
        compute: ComputeFn,
        chunk_size: int = 64,
        desc: str = "embedding",
        shard: tuple[int, int] = (0, 1),
    ) -> SequenceStore | None:
        """Return the finished store, computing whatever chunks are missing first.

        With ``shard=(i, n)`` only the chunks numbered ``i`` modulo ``n`` are computed here;
        while other shards' chunks are still missing, None is returned.
        """
        ids = list(ids)
        store = self._finished(ids)
        if store is not None:
            return store
        make_directory(self.directory)
        write_json(self.directory / "key.json", self.key)
        chunk_size = self._chunk_size(chunk_size, len(ids))
        chunks = [range(start, min(start + chunk_size, len(ids))) for start in range(0, len(ids), chunk_size)]
        chunk_dir = make_directory(self.directory / "chunks")
        paths = [chunk_dir / f"{number:06d}.npz" for number in range(len(chunks))]
        index, count = shard
        mine = [number for number in range(len(chunks)) if number % count == index]
        missing = [number for number in mine if not paths[number].is_file()]

        total = sum(len(chunks[n]) for n in mine)
        done = total - sum(len(chunks[n]) for n in missing)
        with Progress(total, desc, unit="clip", initial=done) as bar:
            for number in missing:
                if self.complete:
                    break  # another run finished the entry meanwhile
                indices = list(chunks[number])
                arrays = compute(indices)
                try:
                    self._write_chunk(paths[number], arrays, ids, indices)
                except WriteFailed:
                    if not self.complete:
                        raise
                    break  # the run that packed the entry removed chunks/, our temporary with it
                bar.update(len(indices))
        if not self.complete and all(path.is_file() for path in paths):
            return self._pack_once(paths, ids)
        if self.complete:  # packed by another run, which may have removed chunks/ before we wrote ours
            self._remove_chunks()
            return self.load()
        return None  # other shards are still computing theirs

    def _pack_once(self, paths: list[Path], ids: list[str]) -> SequenceStore:
        """Pack under an exclusive lock; a process that finds the lock taken waits for the
        marker (or takes the lock over if its holder was killed)."""
        lock = self.directory / "pack.lock"
        while not self.complete:
            if create_exclusive(lock):
                try:  # another process may have packed between our check and the lock
                    return self.load() if self.complete else self._pack(paths, ids)
                finally:
                    lock.unlink(missing_ok=True)
            if not holder_alive(lock):
                lock.unlink(missing_ok=True)
            else:
                time.sleep(0.2)
        return self.load()

    def _chunk_size(self, requested: int, total: int) -> int:
        """Keep the chunking of an interrupted run so its chunks stay valid."""
        layout = self.directory / "layout.json"
        if layout.is_file():
            saved = json.loads(layout.read_text())
            if saved.get("n_clips") == total:
                return int(saved["chunk_size"])
            shutil.rmtree(self.directory / "chunks", ignore_errors=True)
        write_json(layout, {"chunk_size": requested, "n_clips": total})
        return requested

    @staticmethod
    def _write_chunk(path: Path, arrays: list[np.ndarray], ids: list[str], indices: list[int]) -> None:
        if len(arrays) != len(indices):
            raise BenchError(f"embedding function returned {len(arrays)} arrays for {len(indices)} clips")
        for index, array in zip(indices, arrays):
            if array.ndim != 2 or not np.isfinite(array).all():
                raise BenchError(
                    f"embedding of clip {ids[index]!r} is not a finite (frames, dim) array (shape {array.shape})"
                )
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        frames = np.concatenate(arrays, axis=0).astype(np.float32, copy=False)
        with atomic_path(path) as tmp:
            np.savez(tmp, frames=frames, lengths=lengths)

    def _pack(self, paths: list[Path], ids: list[str]) -> SequenceStore:
        """Append the chunks to ``frames.npy`` one at a time through ordinary writes (so memory
        stays one chunk, and a full disk is an error, where writing into a memory map of a
        file the disk cannot hold kills the process with SIGBUS), then write the marker."""
        lengths: list[np.ndarray] = []
        dim = None
        for path in paths:
            with np.load(path) as chunk:
                lengths.append(chunk["lengths"])
                dim = chunk["frames"].shape[1] if dim is None else dim
                if chunk["frames"].shape[1] != dim:
                    raise BenchError(f"cache chunk {path} has dimension {chunk['frames'].shape[1]}, expected {dim}")
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
        header = {"descr": "<f4", "fortran_order": False, "shape": (int(offsets[-1]), dim)}
        with atomic_path(self.directory / "frames.npy") as tmp, open(tmp, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            for path, counts in zip(paths, lengths):
                with np.load(path) as chunk:
                    block = np.ascontiguousarray(chunk["frames"], dtype="<f4")
                if len(block) != counts.sum():
                    raise BenchError(
                        f"cache chunk {path} holds {len(block)} frames but its lengths add up to {counts.sum()}; "
                        "delete it and re-run"
                    )
                handle.write(memoryview(block).cast("B"))
        with atomic_path(self.directory / "offsets.npy") as tmp:
            np.save(tmp, offsets)
        write_json(self.directory / "ids.json", ids)
        write_json(self.directory / MARKER, {"n_clips": len(ids), "n_frames": int(offsets[-1]), "dim": dim})
        self._remove_chunks()
        return SequenceStore(self.directory)

    def _remove_chunks(self) -> None:
        """Remove ``chunks/`` from a finished entry. Every run that writes a chunk calls this
        once it sees the marker, so a chunk written after the packer's removal (two runs
        computed it) goes too."""
        shutil.rmtree(self.directory / "chunks", ignore_errors=True)

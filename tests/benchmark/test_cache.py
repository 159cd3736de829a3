import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark import cache as cache_module
from benchmark.cache import MARKER, ConcatStore, EmbeddingCache
from benchmark.errors import BenchError
from benchmark.io import create_exclusive
from tests.benchmark.faults import file_size_limit

IDS = [f"clip{i}.wav" for i in range(10)]


def sequences(indices):
    """Clip i has i+1 frames of dimension 3, all equal to i."""
    return [np.full((i + 1, 3), i, dtype=np.float32) for i in indices]


def test_computed_once_then_memory_mapped_with_lengths(tmp_path):
    calls = []

    def compute(indices):
        calls.append(list(indices))
        return sequences(indices)

    cache = EmbeddingCache(tmp_path, "experts", "toy", {"expert": "toy", "split": "dev"})
    store = cache.get_or_compute(IDS, compute, chunk_size=4)
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert store.lengths.tolist() == list(range(1, 11))
    assert isinstance(store.frames, np.memmap)
    np.testing.assert_array_equal(store[7], np.full((8, 3), 7))
    frames, lengths = store.batch([2, 1])
    assert frames.shape == (2, 3, 3) and lengths.tolist() == [3, 2]
    assert (frames[0] == 2).all() and (frames[1, :2] == 1).all() and (frames[1, 2:] == 0).all()  # padding
    frames, lengths = store.batch([0])
    assert frames.shape == (1, 1, 3) and lengths.tolist() == [1]  # padded to the longest, no further
    assert json.loads((cache.directory / "key.json").read_text()) == {"expert": "toy", "split": "dev"}

    again = EmbeddingCache(tmp_path, "experts", "toy", {"expert": "toy", "split": "dev"})
    again.get_or_compute(IDS, compute, chunk_size=4)
    assert len(calls) == 3  # nothing recomputed


def interrupted_at(index, calls=None):
    """A compute function that is interrupted (Ctrl-C) on the chunk holding clip ``index``."""

    def compute(indices):
        if calls is not None:
            calls.append(list(indices))
        if index in indices:
            raise KeyboardInterrupt
        return sequences(indices)

    return compute


def test_an_interrupted_extraction_resumes_with_only_the_missing_chunks(tmp_path, capsys):
    calls = []
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute(IDS, interrupted_at(8, calls), chunk_size=4)
    assert not (cache.directory / MARKER).exists() and not cache.complete

    calls.clear()
    capsys.readouterr()
    store = cache.get_or_compute(IDS, lambda idx: calls.append(list(idx)) or sequences(idx), chunk_size=4)
    assert calls == [[8, 9]]
    assert cache.complete and len(store) == 10
    progress = capsys.readouterr().err.splitlines()
    assert progress[0].endswith(": 8/10 clips") and ": 10/10 clips in " in progress[-1]  # counts the kept ones
    np.testing.assert_array_equal(store[9], np.full((10, 3), 9))


def test_different_keys_are_different_entries(tmp_path):
    a = EmbeddingCache(tmp_path, "experts", "toy", {"hop": 0.5})
    b = EmbeddingCache(tmp_path, "experts", "toy", {"hop": 0.25})
    assert a.directory != b.directory


def test_bad_embeddings_and_changed_clip_lists_are_refused(tmp_path):
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 2})
    with pytest.raises(BenchError, match="clip0.wav"):
        cache.get_or_compute(IDS, lambda idx: [np.full((2, 3), np.nan)] * len(idx))
    cache.get_or_compute(IDS, sequences)
    with pytest.raises(BenchError, match="different clips"):
        cache.get_or_compute(IDS[:5], sequences)


def frames(indices):
    return [np.full((1 + i % 3, 4), float(i), dtype=np.float32) for i in indices]


def test_shards_fill_one_entry_and_the_last_one_packs_it(tmp_path):
    ids = [f"clip{i}" for i in range(10)]
    computed = []

    def compute(indices):
        computed.extend(indices)
        return frames(indices)

    first = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    assert first.get_or_compute(ids, compute, chunk_size=2, shard=(0, 2)) is None  # chunks 0, 2, 4
    assert sorted(computed) == [0, 1, 4, 5, 8, 9] and not first.complete
    store = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1}).get_or_compute(ids, compute, chunk_size=2, shard=(1, 2))
    assert sorted(computed) == list(range(10)) and first.complete  # nothing computed twice
    whole = EmbeddingCache(tmp_path / "one", "experts", "toy", {"k": 1}).get_or_compute(ids, frames, chunk_size=2)
    assert np.array_equal(store.frames, whole.frames) and np.array_equal(store.offsets, whole.offsets)
    assert not (first.directory / "pack.lock").exists()


@pytest.mark.parametrize("race", [False, True], ids=["alone", "another waiter removes it first"])
def test_a_pack_lock_left_by_a_dead_process_is_taken_over(tmp_path, monkeypatch, race):
    import socket
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 2})
    assert cache.get_or_compute(["a", "b"], frames, chunk_size=1, shard=(0, 2)) is None
    (cache.directory / "pack.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    if race:  # a second process waiting for the same dead holder removes its lock between our check and ours
        holder_alive = cache_module.holder_alive
        monkeypatch.setattr(
            cache_module, "holder_alive", lambda lock: holder_alive(lock) or lock.unlink() or False
        )
    store = cache.get_or_compute(["a", "b"], frames, chunk_size=1, shard=(1, 2))
    assert store is not None and len(store) == 2 and cache.complete


def test_while_a_live_process_holds_the_pack_lock_the_others_wait_for_its_pack(tmp_path, monkeypatch):
    ids = ["a", "b"]
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 3})
    assert cache.get_or_compute(ids, frames, chunk_size=1, shard=(0, 2)) is None
    lock = cache.directory / "pack.lock"
    assert create_exclusive(lock)  # a live process (this one) is packing the entry
    waited = []

    def sleep(seconds):
        waited.append(cache.complete)
        lock.unlink()  # the holder packs it and lets go of the lock
        assert EmbeddingCache(tmp_path, "experts", "toy", {"k": 3}).get_or_compute(ids, frames, chunk_size=1)

    monkeypatch.setattr(cache_module, "time", SimpleNamespace(sleep=sleep))
    store = EmbeddingCache(tmp_path, "experts", "toy", {"k": 3}).get_or_compute(ids, frames, chunk_size=1, shard=(1, 2))
    assert waited == [False] and store is not None and store.lengths.tolist() == [1, 2]
    assert leftovers(tmp_path) == [] and not (cache.directory / "chunks").exists()


def wide(indices):
    """Clip i has 50 frames of dimension 64 (12.8 kB), all equal to i."""
    return [np.full((50, 64), i, dtype=np.float32) for i in indices]


def leftovers(directory):
    return sorted(p.name for p in directory.rglob("*") if ".tmp" in p.name or p.name == "pack.lock")


@pytest.mark.parametrize(
    "limit, culprit, recomputed",
    [(1000, "chunks/000000.npz", IDS), (64_000, "frames.npy", [])],  # chunks are 26 kB, frames.npy 128 kB
)
def test_a_disk_that_fills_up_is_one_line_naming_the_file_and_a_retry_finishes_with_what_was_kept(
    tmp_path, limit, culprit, recomputed
):
    calls = []

    def compute(indices):
        calls.extend(IDS[i] for i in indices)
        return wide(indices)

    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    with pytest.raises(BenchError) as caught, file_size_limit(limit):
        cache.get_or_compute(IDS, compute, chunk_size=2)
    assert f"cannot write {cache.directory / culprit}: " in str(caught.value)
    assert leftovers(tmp_path) == [] and not cache.complete

    calls.clear()  # space is freed
    store = cache.get_or_compute(IDS, compute, chunk_size=2)
    assert calls == recomputed and leftovers(tmp_path) == [] and not (cache.directory / "chunks").exists()
    whole = EmbeddingCache(tmp_path / "fresh", "experts", "toy", {"k": 1}).get_or_compute(IDS, wide, chunk_size=2)
    assert np.array_equal(store.frames, whole.frames) and np.array_equal(store.offsets, whole.offsets)
    np.testing.assert_array_equal(store[9], wide([9])[0])


def truncate(path):
    path.write_bytes(path.read_bytes()[:-7])


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: truncate(d / "frames.npy"),
        lambda d: (d / "frames.npy").write_bytes(b""),
        lambda d: truncate(d / "offsets.npy"),
        lambda d: truncate(d / "ids.json"),
        lambda d: (d / "frames.npy").unlink(),
        lambda d: np.save(d / "frames.npy", np.zeros((3, 3), dtype=np.float32)),
    ],
    ids=["frames truncated", "frames empty", "offsets truncated", "ids truncated", "frames missing", "frames replaced"],
)
def test_a_damaged_packed_entry_is_computed_again(tmp_path, damage):
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    cache.get_or_compute(IDS, sequences, chunk_size=4)
    damage(cache.directory)
    calls = []
    store = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1}).get_or_compute(
        IDS, lambda idx: calls.extend(idx) or sequences(idx), chunk_size=4
    )
    assert calls == list(range(10)) and store.lengths.tolist() == list(range(1, 11))
    np.testing.assert_array_equal(store[9], np.full((10, 3), 9))
    assert cache.complete and not (cache.directory / "chunks").exists()


@pytest.mark.parametrize("when", ["before", "while"])
def test_a_chunk_written_after_another_process_packed_the_entry_leaves_no_chunks_folder(tmp_path, monkeypatch, when):
    """Two runs compute the same chunk; the other one finishes and packs the entry before
    (or while) this one writes its copy."""
    other = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    late = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    savez = np.savez

    def compute(indices):
        if when == "before":
            other.get_or_compute(IDS, sequences, chunk_size=4)
        return sequences(indices)

    def savez_while_packed(path, **arrays):
        savez(path, **arrays)
        monkeypatch.setattr(np, "savez", savez)
        other.get_or_compute(IDS, sequences, chunk_size=4)  # removes chunks/, our temporary in it

    if when == "while":
        monkeypatch.setattr(np, "savez", savez_while_packed)
    store = late.get_or_compute(IDS, compute, chunk_size=4)
    assert store is not None and store.lengths.tolist() == list(range(1, 11))
    assert late.complete and sorted(p.name for p in late.directory.iterdir()) == [
        "COMPLETE", "frames.npy", "ids.json", "key.json", "layout.json", "offsets.npy"
    ]


@pytest.mark.parametrize("killed_at", ["frames.npy", "offsets.npy", "ids.json", MARKER])
def test_a_pack_interrupted_before_any_of_its_files_is_in_place_is_not_read_as_finished(
    tmp_path, monkeypatch, killed_at
):
    """The packing process is killed just as it moves ``killed_at`` into place: the entry
    is unfinished (whatever was moved before it), and the next run packs the kept chunks."""
    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    replace = os.replace

    def killed(source, destination):
        if Path(destination).name == killed_at:
            raise KeyboardInterrupt
        replace(source, destination)

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute(IDS, sequences, chunk_size=4)
    monkeypatch.setattr(os, "replace", replace)
    assert not cache.complete and leftovers(tmp_path) == []
    with pytest.raises(BenchError, match="is incomplete"):
        cache.load()

    calls = []
    store = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1}).get_or_compute(
        IDS, lambda idx: calls.extend(idx) or sequences(idx), chunk_size=4
    )
    assert calls == [] and cache.complete and store.lengths.tolist() == list(range(1, 11))  # packed, not computed
    np.testing.assert_array_equal(store[9], np.full((10, 3), 9))
    assert not (cache.directory / "chunks").exists()


def test_clips_without_frames_are_stored_empty_and_the_entry_is_not_taken_for_damaged(tmp_path):
    calls = []

    def compute(indices):  # clips 3 and 4 are silent: no frames
        calls.extend(indices)
        return [np.full((0 if i in (3, 4) else 2, 3), i, dtype=np.float32) for i in indices]

    EmbeddingCache(tmp_path, "experts", "toy", {"k": 1}).get_or_compute(IDS, compute, chunk_size=4)
    store = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1}).get_or_compute(IDS, compute, chunk_size=4)
    assert calls == list(range(10)) and store.lengths.tolist() == [2, 2, 2, 0, 0, 2, 2, 2, 2, 2]
    assert store[3].shape == (0, 3) and (store[5] == 5).all()
    frames, lengths = store.batch([3, 4])
    assert frames.shape == (2, 1, 3) and not frames.any() and lengths.tolist() == [0, 0]


def test_stores_concatenated_read_as_one_running_through_them_in_order(tmp_path):
    dev = EmbeddingCache(tmp_path, "experts", "toy", {"split": "dev"}).get_or_compute(IDS[:4], sequences)
    val = EmbeddingCache(tmp_path, "experts", "toy", {"split": "val"}).get_or_compute(
        ["v0", "v1", "v2"], lambda idx: [np.full((2, 3), 10 + i, dtype=np.float32) for i in idx]
    )
    both = ConcatStore([dev, val])
    assert len(both) == 7 and both.ids == IDS[:4] + ["v0", "v1", "v2"] and both.dim == 3
    assert both.lengths.tolist() == [1, 2, 3, 4, 2, 2, 2]
    for index, value in enumerate([0, 1, 2, 3, 10, 11, 12]):
        assert both[index].shape == (both.lengths[index], 3) and (both[index] == value).all()
    frames, lengths = both.batch([5, 3])
    assert frames.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert (frames[0, :2] == 11).all() and not frames[0, 2:].any() and (frames[1] == 3).all()
    alone = ConcatStore([val])  # one dataset drawn with equal frequency
    assert len(alone) == 3 and alone.dim == 3 and (alone[2] == 12).all()
    wide = EmbeddingCache(tmp_path, "experts", "wide", {}).get_or_compute(["w"], lambda idx: [np.zeros((1, 5))])
    with pytest.raises(BenchError, match="different dimensions"):
        ConcatStore([dev, wide])


def test_a_clip_list_that_changed_since_an_interrupted_extraction_is_computed_afresh(tmp_path):
    """The dataset on disk changed (same key) between an interrupted extraction and the next
    run: the chunks kept belong to the old clip list, and are not used for the new one."""

    cache = EmbeddingCache(tmp_path, "experts", "toy", {"k": 1})
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute(IDS, interrupted_at(8), chunk_size=4)
    calls = []

    def renewed(indices):
        calls.extend(indices)
        return [np.full((2, 3), 100 + i, dtype=np.float32) for i in indices]

    new = [f"new{i}.wav" for i in range(6)]
    store = cache.get_or_compute(new, renewed, chunk_size=4)
    assert calls == list(range(6)) and store.ids == new and store.lengths.tolist() == [2] * 6
    assert all((store[i] == 100 + i).all() for i in range(6))

    truncate(cache.directory / "frames.npy")  # damaged since, and the dataset changed once more
    store = cache.get_or_compute(IDS, sequences, chunk_size=4)
    assert store.ids == IDS and store.lengths.tolist() == list(range(1, 11))

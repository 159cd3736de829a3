"""Clip-to-clip CIDEr-D computed for the pairs asked for, never for all n² at once.

``c_ij`` is defined in :mod:`bench_plugins.losses.relax`. With ``H``/``R`` the captions'
hypothesis and reference vectors (:class:`bench_plugins.losses.cider.CaptionVectors`,
document frequencies over the split's clips) and ``p`` the length penalty,

    one(i, j) = 10 / N / (K_i K_j) * sum_{a in i, b in j} p(|l_a - l_b|) H_a . R_b
    c_ij = (one(i, j) + one(j, i)) / 2

so a ``B x B`` block of ``c`` is one sparse product of the batch's ``B K`` caption rows
with themselves (at ``B = 512``, ``K = 5``: a 2,560 x 2,560 product), and a single pair
needs only its ``K_i K_j`` row dot products. What is kept is the per-caption vectors:
O(captions x n-grams per caption) memory, linear in the number of clips. Building them
holds the captions as word ids, not as Python lists, and little beyond what is kept
(``benchmarks/relax_scaling.py memory``: at 50,000 clips, 175 MB kept, build peak 0.37 GB).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from benchmark.api import BenchError

from bench_plugins.losses.cider import N, Words, caption_vectors, length_penalty, product_t, tokenize


class ClipPairs:
    """The caption vectors of one split's clips, and ``c_ij`` for any pairs of them."""

    #: Arrays saved to disk by :meth:`arrays` and read back by :meth:`from_arrays`.
    FIELDS = ("sizes", "lengths", "dense_hyp", "dense_ref", "sparse_hyp", "sparse_ref")

    def __init__(self, sizes: np.ndarray, lengths: np.ndarray, dense: tuple[sp.csr_matrix, sp.csr_matrix],
                 sparse: tuple[sp.csr_matrix, sp.csr_matrix]) -> None:
        self.sizes = np.asarray(sizes, dtype=np.int64)  # captions per clip
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)  # bigrams per caption
        self.dense, self.sparse = dense, sparse  # (hypothesis, reference) rows, frequent / other columns
        self.penalty = length_penalty(int(self.lengths.max(initial=0)))

    @classmethod
    def from_captions(cls, captions: Sequence[Sequence[str]]) -> "ClipPairs":
        """The vectors of ``captions`` (clip by clip), tokenised one caption at a time."""
        if not captions:
            raise BenchError("no captions to compute CIDEr on")

        def tokens() -> Iterator[list[str]]:
            for clip, clip_captions in enumerate(captions):
                for k, caption in enumerate(clip_captions):
                    words = tokenize(caption)
                    if not words:
                        raise BenchError(f"caption {k + 1} of clip {clip} ({caption!r}) is empty after tokenisation")
                    yield words

        words = Words.of(tokens(), {})
        sizes = np.array([len(clip_captions) for clip_captions in captions])
        _, vectors = caption_vectors(Words(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)), words, sizes)
        # Both matrices hold each caption's rows: a caption is a hypothesis for its clip's
        # pairs in one direction and a reference in the other.
        return cls(sizes, vectors.lengths, vectors.dense, vectors.sparse)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild this object, as flat arrays (for ``np.savez``)."""
        out: dict[str, np.ndarray] = {"sizes": self.sizes, "lengths": self.lengths}
        for name, matrix in zip(self.FIELDS[2:], (*self.dense, *self.sparse)):
            for part in ("data", "indices", "indptr"):
                out[f"{name}.{part}"] = getattr(matrix, part)
            out[f"{name}.shape"] = np.array(matrix.shape)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ClipPairs":
        """The object :meth:`arrays` describes; a half's two matrices share their indices again."""
        matrices = []
        for name in cls.FIELDS[2:]:
            indices, indptr = arrays[f"{name}.indices"], arrays[f"{name}.indptr"]
            previous = matrices[-1] if name.endswith("_ref") else None  # the half's hypothesis: same pattern
            if previous is not None and np.array_equal(indices, previous.indices) \
                    and np.array_equal(indptr, previous.indptr):
                indices, indptr = previous.indices, previous.indptr  # held once, as when built
            matrices.append(sp.csr_matrix((arrays[f"{name}.data"], indices, indptr),
                                          shape=tuple(arrays[f"{name}.shape"]), copy=False))
        return cls(arrays["sizes"], arrays["lengths"], (matrices[0], matrices[1]), (matrices[2], matrices[3]))

    def __len__(self) -> int:
        return len(self.sizes)

    def nbytes(self) -> int:
        """Memory held by the vectors (arrays shared between matrices counted once)."""
        arrays = {(a.__array_interface__["data"][0], a.nbytes): a.nbytes
                  for m in (*self.dense, *self.sparse) for a in (m.data, m.indices, m.indptr)}
        return int(sum(arrays.values()) + self.sizes.nbytes + self.starts.nbytes + self.lengths.nbytes)

    def _rows(self, clips: np.ndarray) -> np.ndarray:
        """The caption rows of ``clips``, clip by clip."""
        sizes = self.sizes[clips]
        return np.repeat(self.starts[clips] - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))

    def one_way(self, a: np.ndarray, b: np.ndarray, slab: int = 256) -> np.ndarray:
        """float64 ``one(i, j)`` for ``i`` in clips ``a`` and ``j`` in clips ``b``."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        rows_a, rows_b = self._rows(a), self._rows(b)
        (dense_hyp, dense_ref), (sparse_hyp, sparse_ref) = self.dense, self.sparse
        pair = dense_hyp[rows_a].toarray() @ dense_ref[rows_b].toarray().T
        sparse = product_t(sparse_hyp[rows_a], sparse_ref[rows_b])
        length_a, length_b = self.lengths[rows_a].astype(np.int16), self.lengths[rows_b].astype(np.int16)
        for start in range(0, len(rows_a), slab):  # a slab of rows at a time: no more full-size temporaries
            rows = slice(start, start + slab)
            pair[rows] += sparse[rows].toarray()
            pair[rows] *= self.penalty[np.abs(length_a[rows, None] - length_b[None, :])]
        size_a, size_b = self.sizes[a], self.sizes[b]
        if len(a) and len(b) and (size_a == size_a[0]).all() and (size_b == size_b[0]).all():  # the usual case
            per_clip = pair.reshape(len(a), size_a[0], len(b), size_b[0]).sum(axis=(1, 3))
        else:
            per_clip = np.add.reduceat(pair, np.cumsum(size_b) - size_b, axis=1)
            per_clip = np.add.reduceat(per_clip, np.cumsum(size_a) - size_a, axis=0)
        return per_clip * (10.0 / N) / (size_a[:, None] * size_b[None, :])

    def block(self, clips: np.ndarray) -> np.ndarray:
        """float32 ``c_ij`` for every ``i``, ``j`` in ``clips`` (``[B, B]``, symmetric)."""
        one = self.one_way(clips, clips)
        return ((one + one.T) / 2).astype(np.float32)

    def tile(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float32 ``c_ij`` for ``i`` in ``a`` and ``j`` in ``b``."""
        return ((self.one_way(a, b) + self.one_way(b, a).T) / 2).astype(np.float32)

    def pairs(self, i: np.ndarray, j: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """float32 ``c_ij`` for the pairs ``(i[p], j[p])``, by row dot products (no blocks)."""
        i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        out = np.empty(len(i), dtype=np.float32)
        for start in range(0, len(i), chunk):
            ci, cj = i[start : start + chunk], j[start : start + chunk]
            size_i, size_j = self.sizes[ci], self.sizes[cj]
            per_pair = size_i * size_j
            pair = np.repeat(np.arange(len(ci)), per_pair)
            # Caption a of clip i and caption b of clip j, for every (a, b) of every pair.
            k = np.arange(int(per_pair.sum())) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
            rows_a = self.starts[ci][pair] + k // size_j[pair]
            rows_b = self.starts[cj][pair] + k % size_j[pair]
            both = np.zeros(len(pair))
            for hyp, ref in (self.dense, self.sparse):
                for x, y in ((rows_a, rows_b), (rows_b, rows_a)):
                    both += np.asarray(hyp[x].multiply(ref[y]).sum(axis=1)).ravel()
            both *= self.penalty[np.abs(self.lengths[rows_a] - self.lengths[rows_b])]
            out[start : start + chunk] = np.bincount(pair, weights=both, minlength=len(ci)) * (10.0 / N) / per_pair / 2
        return out

    def matrix(self, tile: int = 512) -> np.ndarray:
        """The full float32 ``(n, n)`` matrix, tile by tile (n² memory: small splits only)."""
        n = len(self)
        out = np.empty((n, n), dtype=np.float32)
        for start in range(0, n, tile):
            a = np.arange(start, min(start + tile, n))
            out[start : a[-1] + 1, start : a[-1] + 1] = self.block(a)
            for other in range(a[-1] + 1, n, tile):
                b = np.arange(other, min(other + tile, n))
                out[a[0] : a[-1] + 1, b[0] : b[-1] + 1] = values = self.tile(a, b)
                out[b[0] : b[-1] + 1, a[0] : a[-1] + 1] = values.T
        return out

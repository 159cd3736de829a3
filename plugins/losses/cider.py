"""Vectorised CIDEr-D: every caption of a dataset scored against every clip's references.

This computes exactly what pycocoevalcap's ``Cider`` computes (the CIDEr-D variant: 1- to
4-grams, tf-idf weights with document frequencies over the reference sets, clipped
n-gram matches, a Gaussian length penalty with sigma = 6, the mean over n-gram orders,
the mean over references, times 10), but for the whole caption x clip matrix at once.

How: with ``w_g`` the idf of n-gram ``g`` and ``c_h``, ``c_r`` the counts in hypothesis
``h`` and reference ``r``, pycocoevalcap's clipped numerator is
``sum_g min(c_h w_g, c_r w_g) c_r w_g = sum_g w_g^2 c_r min(c_h, c_r)``, and
``min(a, b) = sum_{t>=1} [a >= t][b >= t]``. So with one column per (n-gram, t), a
hypothesis row holding ``[c_h >= t] / norm_h`` and a reference row holding
``[c_r >= t] c_r w_g^2 / norm_r``, all pairwise numerators of all orders are one sparse
matrix product. The length penalty depends on the pair only through the two lengths and
is applied elementwise before references are summed per clip. The rows are
:class:`CaptionVectors`, which :mod:`bench_plugins.losses.cider_pairs` keeps to compute
clip pairs on demand. N-grams are counted on integer word ids, all sentences at once.

Conventions shared with pycocoevalcap: a caption's "length" is its number of bigrams
(pycocoevalcap counts ``len(ngram) - 1 == 1``); only differences of lengths matter, so
this equals the token count minus one. Document frequency counts the clips whose
reference set contains the n-gram, and ``ref_len = log(number of clips)``.

Tokenisation is done here in Python (lower case, words and digits, clitics such as
``'s`` split off, punctuation dropped), close to the PTB tokenizer pycocoevalcap runs
through Java; scores equal pycocoevalcap's for the same tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from benchmark.api import BenchError

N = 4
SIGMA = 6.0
_TOKEN = re.compile(r"[a-z0-9]+|'[a-z]+")


def tokenize(caption: str) -> list[str]:
    """Lower-cased word tokens, punctuation removed."""
    return _TOKEN.findall(caption.lower())


@dataclass(frozen=True)
class CaptionVectors:
    """Sentences as the sparse rows of the product above, over one reference set.

    Row ``s`` of ``hypothesis`` is ``[c >= t] / norm`` and row ``s`` of ``reference`` is
    ``[c >= t] c w^2 / norm`` for sentence ``s``, one column per (n-gram, t), and
    ``lengths[s]`` is its number of bigrams; ``hypothesis[h] . reference[r]``, times the
    length penalty of ``h`` and ``r``, summed over ``r`` in a clip and scaled, is CIDEr-D.
    N-grams whose idf is 0 (in every reference set) are dropped from both: they count in
    the norms but add nothing to any product.
    """

    hypothesis: sp.csr_matrix
    reference: sp.csr_matrix
    lengths: np.ndarray


def encode(sentences: Sequence[Sequence[str]], n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every sentence's 1..n-gram counts as sparse ``(row, column, count)`` triplets, one
    column per distinct n-gram (sorted by row, then column), and each column's order - 1."""
    words: dict[str, int] = {}
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    tokens = np.fromiter((words.setdefault(w, len(words)) for s in sentences for w in s), dtype=np.int64,
                         count=int(lengths.sum()))
    sentence = np.repeat(np.arange(len(sentences)), lengths)
    position = np.arange(len(tokens)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    base = len(words) + 1
    rows, columns, orders = [], [], []
    offset = 0
    for k in range(1, n + 1):
        starts = np.flatnonzero(position + k <= lengths[sentence])
        grams = np.stack([tokens[starts + i] for i in range(k)], axis=1)
        if base**k < 2**62:  # one integer per n-gram
            keys = (grams * base ** np.arange(k, dtype=np.int64)).sum(axis=1)
            distinct, inverse = np.unique(keys, return_inverse=True)
        else:
            distinct, inverse = np.unique(grams, axis=0, return_inverse=True)
        rows.append(sentence[starts])
        columns.append(inverse.reshape(-1) + offset)
        orders.append(np.full(len(distinct), k - 1, dtype=np.int64))
        offset += len(distinct)
    n_columns = max(offset, 1)
    cells = np.concatenate(rows) * n_columns
    del rows
    cells += np.concatenate(columns)
    del columns
    cells, counts = np.unique(cells, return_counts=True)
    # 32-bit where they fit: these arrays are the peak memory of a large split.
    index_type = np.int32 if max(n_columns, len(sentences)) < 2**31 - 1 else np.int64
    rows_out, cols_out = (cells // n_columns).astype(index_type), (cells % n_columns).astype(index_type)
    return rows_out, cols_out, counts.astype(np.int32), np.concatenate(orders)


def caption_vectors(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]], n: int = N
) -> tuple[CaptionVectors, CaptionVectors]:
    """The vectors of ``hypotheses`` and of every reference (flattened, clip by clip), with
    document frequencies over the clips' reference sets."""
    n_clips = len(references)
    if n_clips == 0 or any(len(refs) == 0 for refs in references):
        raise BenchError("CIDEr needs at least one reference caption for every clip")
    flat = [ref for refs in references for ref in refs]
    ref_clip = np.repeat(np.arange(n_clips), [len(refs) for refs in references])
    rows, cols, counts, order = encode([*flat, *hypotheses], n)
    n_columns = len(order)
    is_ref = rows < len(flat)

    # Document frequency: the number of clips whose reference set holds the n-gram.
    clip_gram = ref_clip[rows[is_ref] if len(hypotheses) else rows] * n_columns
    clip_gram += cols[is_ref] if len(hypotheses) else cols
    clip_gram = np.unique(clip_gram)
    df = np.bincount(clip_gram % max(n_columns, 1), minlength=n_columns).astype(np.float64)
    weight = np.log(float(n_clips)) - np.log(np.maximum(1.0, df))  # ref_len - log(df)
    max_t = int(counts.max(initial=1))

    def vectors(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, n_rows: int) -> CaptionVectors:
        """Rows of ``[c >= t] / norm`` and ``[c >= t] c w^2 / norm``, one column per
        (n-gram, t); also each sentence's length (its number of bigrams)."""
        orders = order[cols]
        norms = np.zeros((n_rows, n))
        np.add.at(norms, (rows, orders), (counts * weight[cols]) ** 2)
        norms = np.sqrt(norms)
        lengths = np.bincount(rows, weights=counts * (orders == 1), minlength=n_rows)
        keep = weight[cols] != 0
        rows, cols, counts, orders = rows[keep], cols[keep], counts[keep].astype(np.int64), orders[keep]
        scale = 1.0 / np.where(norms > 0, norms, 1.0)[rows, orders]
        del orders, norms
        # Expand each entry into its thresholds t = 0 .. count-1.
        starts = np.cumsum(counts) - counts
        t = np.arange(counts.sum()) - np.repeat(starts, counts)
        # Entries are sorted by row, then column: the CSR arrays directly, without a COO copy.
        indices = np.repeat(cols.astype(np.int64), counts) * max_t + t
        del t
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, weights=counts, minlength=n_rows))]).astype(np.int64)
        shape = (n_rows, max(n_columns, 1) * max_t)
        hypothesis = _csr(np.repeat(scale, counts), indices, indptr, shape)
        reference = _csr(np.repeat(counts * weight[cols] ** 2 * scale, counts), indices, indptr, shape)
        return CaptionVectors(hypothesis, reference, lengths)

    if not len(hypotheses):  # the references' own vectors: no copies of the triplets
        empty = np.zeros(0, dtype=rows.dtype)
        return vectors(empty, empty, empty, 0), vectors(rows, cols, counts, len(flat))
    hyp = ~is_ref
    return (vectors(rows[hyp] - len(flat), cols[hyp], counts[hyp], len(hypotheses)),
            vectors(rows[is_ref], cols[is_ref], counts[is_ref], len(flat)))


def length_penalty(max_length: int, sigma: float = SIGMA) -> np.ndarray:
    """CIDEr-D's Gaussian penalty, indexed by the difference of two lengths."""
    return np.exp(-(np.arange(max_length + 1) ** 2) / (2 * sigma**2))


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR matrix from sorted entries, with 32-bit indices where they fit (no copies beyond that)."""
    small = max(shape[1], len(indices)) < 2**31 - 1
    index_type = np.int32 if small else np.int64
    return sp.csr_matrix((data, indices.astype(index_type, copy=False), indptr.astype(index_type, copy=False)),
                         shape=shape, copy=False)


def split_columns(hypothesis: sp.csr_matrix, reference: sp.csr_matrix) -> tuple[tuple, tuple]:
    """``(dense, sparse)`` halves of two matrices with the same sparsity pattern: columns
    shared by many references (numbered anew) are multiplied densely (BLAS), the rest
    sparsely (in the original column space)."""
    per_column = np.bincount(reference.indices, minlength=reference.shape[1])
    dense_cols = np.flatnonzero(per_column > max(64, reference.shape[0] // 64))
    del per_column
    halves = []
    for keep_dense in (True, False):
        out = []
        for matrix in (hypothesis, reference):
            entries = np.isin(matrix.indices, dense_cols) == keep_dense
            rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[entries]
            indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))])
            indices = np.searchsorted(dense_cols, matrix.indices[entries]) if keep_dense else matrix.indices[entries]
            shape = (matrix.shape[0], len(dense_cols) if keep_dense else matrix.shape[1])
            out.append(_csr(matrix.data[entries], indices, indptr, shape))
        halves.append(tuple(out))
    return halves[0], halves[1]


def cider_d(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[Sequence[str]]],
    n: int = N,
    sigma: float = SIGMA,
    block: int = 1024,
) -> np.ndarray:
    """CIDEr-D of every tokenised hypothesis against every clip's tokenised references.

    Returns a float64 ``(len(hypotheses), len(references))`` matrix; entry ``[h, j]`` is
    pycocoevalcap's ``Cider`` score of hypothesis ``h`` with references ``references[j]``,
    document frequencies taken over all ``references``.
    """
    hyp_vectors, ref_vectors = caption_vectors(hypotheses, references, n)
    n_clips = len(references)
    (hyp_dense, ref_dense), (hyp_sparse, ref_sparse) = split_columns(hyp_vectors.hypothesis, ref_vectors.reference)
    ref_dense_t = ref_dense.toarray().T.copy()  # (n_dense, n_refs)
    ref_sparse_t = ref_sparse.T.tocsr()  # (n_sparse, n_refs)
    h_len, r_len = hyp_vectors.lengths, ref_vectors.lengths
    penalty = length_penalty(int(max(h_len.max(initial=0), r_len.max(initial=0))), sigma)
    refs_per_clip = np.array([len(refs) for refs in references], dtype=np.float64)
    clip_starts = np.concatenate([[0], np.cumsum(refs_per_clip[:-1])]).astype(np.int64)
    out = np.empty((len(hypotheses), n_clips))
    for start in range(0, len(hypotheses), block):
        stop = min(start + block, len(hypotheses))
        pair = hyp_dense[start:stop].toarray() @ ref_dense_t
        pair += (hyp_sparse[start:stop] @ ref_sparse_t).toarray()
        pair *= penalty[np.abs(h_len[start:stop, None] - r_len[None, :]).astype(np.int64)]
        out[start:stop] = np.add.reduceat(pair, clip_starts, axis=1) / refs_per_clip
    return out * (10.0 / n)

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
clip pairs on demand. N-grams are counted on integer word ids (:class:`Words`, 4 bytes a
token), all sentences at once, one order at a time; the vectors are assembled a chunk of
sentences at a time, so that a build's peak memory is little more than what it keeps.

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
from typing import Iterable, Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from benchmark.api import BenchError

N = 4
SIGMA = 6.0
_TOKEN = re.compile(r"[a-z0-9]+|'[a-z]+")
#: Sentences per piece when the vectors are assembled: bounds the build's temporaries.
CHUNK = 16_384


def tokenize(caption: str) -> list[str]:
    """Lower-cased word tokens, punctuation removed."""
    return _TOKEN.findall(caption.lower())


@dataclass(frozen=True)
class Words:
    """Sentences as integer word ids, end to end: 4 bytes a token instead of a Python list of
    strings, so that a large split's captions can all be held at once."""

    tokens: np.ndarray  # int32 word ids of all sentences, one after the other
    lengths: np.ndarray  # int64 tokens per sentence

    @classmethod
    def of(cls, sentences: Iterable[Sequence[str]], vocabulary: dict[str, int]) -> "Words":
        """The word ids of tokenised ``sentences`` (consumed one at a time, never all held as
        lists), numbering new words in ``vocabulary`` as they come."""
        lengths: list[int] = []

        def ids() -> Iterator[int]:
            for sentence in sentences:
                lengths.append(len(sentence))
                for word in sentence:
                    yield vocabulary.setdefault(word, len(vocabulary))

        tokens = np.fromiter(ids(), dtype=np.int32)
        return cls(tokens, np.array(lengths, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.lengths)


@dataclass(frozen=True)
class CaptionVectors:
    """Sentences as the sparse rows of the product above, over one reference set.

    Row ``s`` of a ``hypothesis`` matrix is ``[c >= t] / norm`` and row ``s`` of a
    ``reference`` matrix is ``[c >= t] c w^2 / norm`` for sentence ``s``, one column per
    (n-gram, t), and ``lengths[s]`` is its number of bigrams; ``hypothesis[h] . reference[r]``
    (the dense halves' product plus the sparse halves'), times the length penalty of ``h`` and
    ``r``, summed over ``r`` in a clip and scaled, is CIDEr-D. ``dense`` holds the columns
    shared by many references (numbered anew, multiplied with BLAS), ``sparse`` the rest (in
    the full column space); a half's two matrices share their index arrays. N-grams whose idf
    is 0 (in every reference set) are dropped: they count in the norms but add nothing to
    any product.
    """

    dense: tuple[sp.csr_matrix, sp.csr_matrix]  # (hypothesis, reference)
    sparse: tuple[sp.csr_matrix, sp.csr_matrix]
    lengths: np.ndarray  # int64


@dataclass(frozen=True)
class _Grams:
    """Every sentence's distinct 1..n-grams with their counts, one matrix per order, and the
    document frequency of every n-gram (column ``offsets[k] + j`` is order ``k``'s ``j``-th)."""

    counts: list[sp.csr_matrix]  # (sentences, distinct n-grams of the order): int32 counts
    offsets: list[int]
    df: np.ndarray  # int32: the reference sets (clips) holding each n-gram, all orders
    clips: int  # the number of reference sets

    @property
    def width(self) -> int:
        return max(len(self.df), 1)


def _index_type(n: int) -> type:
    return np.int32 if n < 2**31 - 1 else np.int64


def _count_grams(words: Words, clip_of: np.ndarray, n: int) -> _Grams:
    """The n-grams of orders 1..n of all sentences counted per sentence, document frequency
    over the first ``len(clip_of)`` sentences (the references, in sets ``clip_of``). A k-gram
    is numbered by its (k-1)-gram prefix's number and its last word: exact whatever the
    vocabulary, and only int32/int64 arrays, one order at a time."""
    tokens, lengths = words.tokens, words.lengths
    n_sentences, n_refs = len(lengths), len(clip_of)
    index_type = _index_type(max(len(tokens), n_sentences) + 1)
    sentence = np.repeat(np.arange(n_sentences, dtype=index_type), lengths)
    # Tokens left in the sentence from each position on, itself included: k-grams start where >= k.
    room = np.repeat(np.cumsum(lengths).astype(index_type), lengths) - np.arange(len(tokens), dtype=index_type)
    vocabulary = int(tokens.max(initial=-1)) + 1
    ids, distinct = tokens.astype(np.int64), vocabulary  # unigrams: the word ids themselves
    counts, offsets, dfs = [], [], []
    for k in range(1, n + 1):
        starts = np.flatnonzero(room >= k)
        if k > 1:
            uniques, gram = np.unique(ids[starts] * vocabulary + tokens[starts + (k - 1)], return_inverse=True)
            distinct = len(uniques)
            del uniques
            ids[starts] = gram  # the prefixes of order k + 1 (positions with less room are not read)
        else:
            gram = ids[starts]
        width = max(distinct, 1)
        cells, count = np.unique(sentence[starts].astype(np.int64) * width + gram, return_counts=True)
        del gram, starts
        rows, columns = cells // width, (cells % width).astype(np.int32)
        del cells
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_sentences))]).astype(index_type)
        counts.append(sp.csr_matrix((count.astype(np.int32), columns, indptr), shape=(n_sentences, distinct),
                                    copy=False))
        referenced = rows < n_refs
        pairs = np.unique(clip_of[rows[referenced]] * width + columns[referenced])
        del rows, columns, referenced
        dfs.append(np.bincount(pairs % width, minlength=distinct).astype(np.int32))
        offsets.append(sum(len(df) for df in dfs[:-1]))
    return _Grams(counts, offsets, np.concatenate(dfs), int(clip_of.max(initial=-1)) + 1)


@dataclass(frozen=True)
class _Dense:
    """The columns multiplied densely: ``(n-gram, t)`` held by more than ``max(64, refs // 64)``
    reference sentences. Fewer sentences hold a higher ``t``, so an n-gram's dense columns are
    ``t = 0 .. depth - 1``, numbered in (n-gram, t) order."""

    grams: np.ndarray  # sorted columns of the n-grams with dense columns
    depth: np.ndarray
    first: np.ndarray  # the number of each n-gram's dense column t = 0

    @classmethod
    def of(cls, grams: _Grams, n_refs: int, max_t: int) -> "_Dense":
        found, depths = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for counts, offset in zip(grams.counts, grams.offsets):
            end = counts.indptr[n_refs]
            columns, count = counts.indices[:end], counts.data[:end]
            kept = grams.df[columns + offset] < grams.clips  # idf > 0
            depth = np.zeros(counts.shape[1], dtype=np.int64)
            for t in range(max_t):
                depth += np.bincount(columns[kept & (count > t)], minlength=counts.shape[1]) > max(64, n_refs // 64)
            found.append(np.flatnonzero(depth) + offset)
            depths.append(depth[depth > 0])
        depth = np.concatenate(depths)
        return cls(np.concatenate(found), depth, np.cumsum(depth) - depth)

    @property
    def width(self) -> int:
        return int(self.depth.sum())

    def split(self, columns: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's number of dense columns (thresholds ``0 .. d - 1``; the rest are
        sparse) and the number of its first dense column."""
        rank = np.searchsorted(self.grams, columns)
        found = rank < len(self.grams)
        found[found] = self.grams[rank[found]] == columns[found]
        dense, first = np.zeros(len(columns), dtype=np.int64), np.zeros(len(columns), dtype=np.int64)
        dense[found] = np.minimum(counts[found], self.depth[rank[found]])
        first[found] = self.first[rank[found]]
        return dense, first


def _entries(grams: _Grams, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sentences ``start:stop``'s (row - start, column, count, order) entries, sorted by row
    and then column (orders hold consecutive column ranges)."""
    pieces = []
    for k, (counts, offset) in enumerate(zip(grams.counts, grams.offsets)):
        first, last = counts.indptr[start], counts.indptr[stop]
        pieces.append((np.repeat(np.arange(stop - start), np.diff(counts.indptr[start : stop + 1])),
                       counts.indices[first:last].astype(np.int64) + offset,
                       counts.data[first:last].astype(np.int64), np.full(last - first, k)))
    rows, columns, count, orders = (np.concatenate(parts) for parts in zip(*pieces))
    sort = np.argsort(rows, kind="stable")
    return rows[sort], columns[sort], count[sort], orders[sort]


def _kept(grams: _Grams, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """Sentences ``start:stop``'s (row - start, column, count, weight, 1 / norm) entries of
    nonzero weight, sorted by row and column (the norms are over all entries)."""
    n = len(grams.counts)
    row, cols, counts, orders = _entries(grams, start, stop)
    weight = np.log(float(grams.clips)) - np.log(np.maximum(1.0, grams.df[cols]))  # ref_len - log(df)
    norms = np.sqrt(np.bincount(row * n + orders, weights=(counts * weight) ** 2, minlength=(stop - start) * n))
    keep = weight != 0
    row, orders = row[keep], orders[keep]
    scale = 1.0 / np.where(norms > 0, norms, 1.0)[row * n + orders]
    return row, cols[keep], counts[keep], weight[keep], scale


def _vectors(grams: _Grams, rows: range, max_t: int, dense: _Dense) -> tuple[tuple, tuple]:
    """The ``(dense, sparse)`` halves of sentences ``rows``, ``CHUNK`` sentences at a time,
    written into arrays sized by a first, lighter pass (no pieces joined, no copies)."""
    sizes = np.zeros(2, dtype=np.int64)
    for start in range(rows.start, rows.stop, CHUNK):
        _, cols, counts, _, _ = _kept(grams, start, min(start + CHUNK, rows.stop))
        in_dense = dense.split(cols, counts)[0].sum()
        sizes += (in_dense, counts.sum() - in_dense)
    widths = (dense.width, grams.width * max_t)
    index_type = _index_type(max(widths))
    halves = [(np.empty(size), np.empty(size), np.empty(size, dtype=index_type), np.zeros(len(rows) + 1, np.int64))
              for size in sizes]
    filled = [0, 0]
    for start in range(rows.start, rows.stop, CHUNK):
        stop = min(start + CHUNK, rows.stop)
        row, cols, counts, weight, scale = _kept(grams, start, stop)
        in_dense, first = dense.split(cols, counts)
        values = (scale, counts * weight**2 * scale)  # [c >= t] / norm and [c >= t] c w^2 / norm
        # Each entry's thresholds t = 0 .. count-1: the first in_dense dense, the rest sparse.
        for k, (repeats, base) in enumerate(((in_dense, first), (counts - in_dense, cols * max_t + in_dense))):
            size = int(repeats.sum())
            t = np.arange(size) - np.repeat(np.cumsum(repeats) - repeats, repeats)
            out = slice(filled[k], filled[k] + size)
            hypothesis, reference, indices, indptr = halves[k]
            hypothesis[out], reference[out] = np.repeat(values[0], repeats), np.repeat(values[1], repeats)
            indices[out] = np.repeat(base, repeats) + t
            indptr[start - rows.start + 1 : stop - rows.start + 1] = np.bincount(row, weights=repeats,
                                                                                  minlength=stop - start)
            filled[k] += size
    out = []
    for (hypothesis, reference, indices, indptr), width in zip(halves, widths):
        indptr = np.cumsum(indptr).astype(_index_type(int(indptr.sum())))
        out.append(tuple(sp.csr_matrix((data, indices, indptr), shape=(len(rows), width), copy=False)
                         for data in (hypothesis, reference)))
    return out[0], out[1]


def caption_vectors(hypotheses: Words, references: Words, sizes: Sequence[int],
                    n: int = N) -> tuple[CaptionVectors, CaptionVectors]:
    """The vectors of ``hypotheses`` and of ``references`` (clip by clip, ``sizes[j]``
    captions for clip ``j``), with document frequencies over the clips' reference sets."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if len(sizes) == 0 or (sizes == 0).any() or sizes.sum() != len(references):
        raise BenchError("CIDEr needs at least one reference caption for every clip")
    both = Words(np.concatenate([references.tokens, hypotheses.tokens]),
                 np.concatenate([references.lengths, hypotheses.lengths]))
    grams = _count_grams(both, np.repeat(np.arange(len(sizes)), sizes), n)
    del both
    max_t = max([int(counts.data.max(initial=1)) for counts in grams.counts] + [1])
    dense = _Dense.of(grams, len(references), max_t)
    out = []
    for words, rows in ((hypotheses, range(len(references), len(references) + len(hypotheses))),
                        (references, range(len(references)))):
        dense_half, sparse_half = _vectors(grams, rows, max_t, dense)
        lengths = np.maximum(words.lengths - 1, 0) if n > 1 else np.zeros(len(words), dtype=np.int64)
        out.append(CaptionVectors(dense_half, sparse_half, lengths))
    return out[0], out[1]


def length_penalty(max_length: int, sigma: float = SIGMA) -> np.ndarray:
    """CIDEr-D's Gaussian penalty, indexed by the difference of two lengths."""
    return np.exp(-(np.arange(max_length + 1) ** 2) / (2 * sigma**2))


def product_t(a: sp.csr_matrix, b: sp.csr_matrix) -> sp.csr_matrix:
    """Sparse ``a @ b.T`` over the columns ``b`` uses, numbered anew: scipy would otherwise
    allocate arrays as long as the full column space (millions) for every product. The
    values are the same to the bit (entries keep their order)."""
    used = np.unique(b.indices)
    position = np.searchsorted(used, a.indices)
    found = position < len(used)
    found[found] = used[position[found]] == a.indices[found]
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))[found]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=a.shape[0]))])
    a_used = sp.csr_matrix((a.data[found], position[found], indptr), shape=(a.shape[0], len(used)))
    b_used = sp.csr_matrix((b.data, np.searchsorted(used, b.indices), b.indptr), shape=(b.shape[0], len(used)))
    return (a_used @ b_used.T).tocsr()


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
    if not references or any(len(refs) == 0 for refs in references):
        raise BenchError("CIDEr needs at least one reference caption for every clip")
    vocabulary: dict[str, int] = {}
    hyp_words = Words.of(hypotheses, vocabulary)
    ref_words = Words.of((ref for refs in references for ref in refs), vocabulary)
    hyp_vectors, ref_vectors = caption_vectors(hyp_words, ref_words, [len(refs) for refs in references], n)
    n_clips = len(references)
    hyp_dense, hyp_sparse = hyp_vectors.dense[0], hyp_vectors.sparse[0]
    ref_dense_t = ref_vectors.dense[1].toarray().T.copy()  # (n_dense, n_refs)
    ref_sparse = ref_vectors.sparse[1]
    h_len, r_len = hyp_vectors.lengths, ref_vectors.lengths
    penalty = length_penalty(int(max(h_len.max(initial=0), r_len.max(initial=0))), sigma)
    refs_per_clip = np.array([len(refs) for refs in references], dtype=np.float64)
    clip_starts = np.concatenate([[0], np.cumsum(refs_per_clip[:-1])]).astype(np.int64)
    out = np.empty((len(hypotheses), n_clips))
    for start in range(0, len(hypotheses), block):
        stop = min(start + block, len(hypotheses))
        pair = hyp_dense[start:stop].toarray() @ ref_dense_t
        pair += product_t(hyp_sparse[start:stop], ref_sparse).toarray()
        pair *= penalty[np.abs(h_len[start:stop, None] - r_len[None, :]).astype(np.int64)]
        out[start:stop] = np.add.reduceat(pair, clip_starts, axis=1) / refs_per_clip
    return out * (10.0 / n)

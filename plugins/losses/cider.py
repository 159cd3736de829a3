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
is applied elementwise before references are summed per clip.

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
from collections import Counter
from typing import Sequence

import numpy as np

from benchmark.api import BenchError

N = 4
SIGMA = 6.0
_TOKEN = re.compile(r"[a-z0-9]+|'[a-z]+")


def tokenize(caption: str) -> list[str]:
    """Lower-cased word tokens, punctuation removed."""
    return _TOKEN.findall(caption.lower())


def ngrams(tokens: Sequence[str], n: int = N) -> Counter:
    """Counts of all 1..n-grams of ``tokens`` (tuples as keys), as pycocoevalcap's ``precook``."""
    counts: Counter = Counter()
    for k in range(1, n + 1):
        for i in range(len(tokens) - k + 1):
            counts[tuple(tokens[i : i + k])] += 1
    return counts


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
    import scipy.sparse as sp

    n_clips = len(references)
    if n_clips == 0 or any(len(refs) == 0 for refs in references):
        raise BenchError("CIDEr needs at least one reference caption for every clip")
    ref_clip = np.repeat(np.arange(n_clips), [len(refs) for refs in references])
    # Each distinct sentence's n-grams as (vocabulary column, count) arrays, computed once:
    # hypotheses are often the references themselves.
    vocabulary: dict[tuple, int] = {}
    memo: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def encoded(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(tokens)
        if key not in memo:
            counts = ngrams(key, n)
            columns = [vocabulary.setdefault(gram, len(vocabulary)) for gram in counts]
            memo[key] = (np.array(columns, dtype=np.int64), np.array(list(counts.values()), dtype=np.int64))
        return memo[key]

    def triplets(sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sparse (row, n-gram column, count) triplets of ``sentences``."""
        pairs = [encoded(tokens) for tokens in sentences]
        rows = np.repeat(np.arange(len(pairs)), [len(cols) for cols, _ in pairs])
        empty = np.zeros(0, dtype=np.int64)
        cols = np.concatenate([cols for cols, _ in pairs] or [empty])
        counts = np.concatenate([counts for _, counts in pairs] or [empty])
        return rows, cols, counts

    ref_rows, ref_cols, ref_cnt = triplets([ref for refs in references for ref in refs])
    hyp_rows, hyp_cols, hyp_cnt = triplets(hypotheses)
    order = np.array([len(gram) - 1 for gram in vocabulary], dtype=np.int64)

    # Document frequency: the number of clips whose reference set holds the n-gram.
    clip_gram = np.unique(ref_clip[ref_rows] * len(vocabulary) + ref_cols)
    df = np.bincount(clip_gram % len(vocabulary), minlength=len(vocabulary)).astype(np.float64)
    weight = np.log(float(n_clips)) - np.log(np.maximum(1.0, df))  # ref_len - log(df)
    max_t = int(max(ref_cnt.max(initial=1), hyp_cnt.max(initial=1)))

    def matrix(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, n_rows: int, is_reference: bool):
        """Rows of ``[c >= t] / norm`` (hypotheses) or ``[c >= t] c w^2 / norm`` (references),
        one column per (n-gram, t); also each sentence's length (its number of bigrams)."""
        orders = order[cols]
        norms = np.zeros((n_rows, n))
        np.add.at(norms, (rows, orders), (counts * weight[cols]) ** 2)
        norms = np.sqrt(norms)
        scale = 1.0 / np.where(norms > 0, norms, 1.0)[rows, orders]
        values = counts * weight[cols] ** 2 * scale if is_reference else scale
        lengths = np.bincount(rows, weights=counts * (orders == 1), minlength=n_rows)
        # Expand each entry into its thresholds t = 0 .. count-1.
        starts = np.cumsum(counts) - counts
        t = np.arange(counts.sum()) - np.repeat(starts, counts)
        entries = (np.repeat(values, counts), (np.repeat(rows, counts), np.repeat(cols, counts) * max_t + t))
        return sp.csr_matrix(entries, shape=(n_rows, len(vocabulary) * max_t)), lengths

    hyp, h_len = matrix(hyp_rows, hyp_cols, hyp_cnt, len(hypotheses), False)
    ref, r_len = matrix(ref_rows, ref_cols, ref_cnt, len(ref_clip), True)

    # Columns shared by many references are multiplied densely (BLAS), the rest sparsely.
    ref_csc = ref.tocsc()
    per_column = np.diff(ref_csc.indptr)
    dense_cols = np.flatnonzero(per_column > max(64, ref.shape[0] // 64))
    sparse_cols = np.setdiff1d(np.flatnonzero(per_column), dense_cols)
    ref_dense_t = np.asarray(ref_csc[:, dense_cols].todense()).T.copy()  # (n_dense, n_refs)
    ref_sparse_t = ref_csc[:, sparse_cols].T.tocsr()  # (n_sparse, n_refs)
    hyp_csc = hyp.tocsc()
    hyp_dense = hyp_csc[:, dense_cols].tocsr()
    hyp_sparse = hyp_csc[:, sparse_cols].tocsr()

    penalty = np.exp(-(np.arange(int(max(h_len.max(initial=0), r_len.max(initial=0))) + 1) ** 2) / (2 * sigma**2))
    clip_starts = np.searchsorted(ref_clip, np.arange(n_clips))
    refs_per_clip = np.array([len(refs) for refs in references], dtype=np.float64)
    out = np.empty((len(hypotheses), n_clips))
    for start in range(0, len(hypotheses), block):
        stop = min(start + block, len(hypotheses))
        pair = np.asarray(hyp_dense[start:stop].todense()) @ ref_dense_t
        pair += (hyp_sparse[start:stop] @ ref_sparse_t).toarray()
        pair *= penalty[np.abs(h_len[start:stop, None] - r_len[None, :]).astype(np.int64)]
        out[start:stop] = np.add.reduceat(pair, clip_starts, axis=1) / refs_per_clip
    return out * (10.0 / n)

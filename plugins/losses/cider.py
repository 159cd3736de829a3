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

from benchmark.errors import BenchError

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
    ref_counts = [ngrams(ref, n) for refs in references for ref in refs]
    ref_clip = np.repeat(np.arange(n_clips), [len(refs) for refs in references])
    hyp_counts = [ngrams(h, n) for h in hypotheses]

    # Vocabulary of every n-gram seen anywhere; document frequency over clips.
    vocabulary: dict[tuple, int] = {}
    for counts in (*ref_counts, *hyp_counts):
        for gram in counts:
            vocabulary.setdefault(gram, len(vocabulary))
    order = np.zeros(len(vocabulary), dtype=np.int64)
    for gram, column in vocabulary.items():
        order[column] = len(gram) - 1
    df = np.zeros(len(vocabulary))
    first = 0
    for refs in references:
        seen = {vocabulary[g] for counts in ref_counts[first : first + len(refs)] for g in counts}
        df[list(seen)] += 1
        first += len(refs)
    weight = np.log(float(n_clips)) - np.log(np.maximum(1.0, df))  # ref_len - log(df)

    def matrices(all_counts: list[Counter], is_reference: bool):
        """Rows of [c >= t] (/ norm) or [c >= t] c w^2 (/ norm), columns (gram, t)."""
        rows, cols, values, lengths = [], [], [], np.zeros(len(all_counts))
        norms = np.zeros((len(all_counts), n))
        for row, counts in enumerate(all_counts):
            for gram, count in counts.items():
                column = vocabulary[gram]
                norms[row, order[column]] += (count * weight[column]) ** 2
                if len(gram) == 2:
                    lengths[row] += count
        norms = np.sqrt(norms)
        safe = np.where(norms > 0, norms, 1.0)
        for row, counts in enumerate(all_counts):
            for gram, count in counts.items():
                column = vocabulary[gram]
                scale = 1.0 / safe[row, order[column]]
                value = count * weight[column] ** 2 * scale if is_reference else scale
                for t in range(count):
                    rows.append(row)
                    cols.append(column * MAX_T + t)
                    values.append(value)
        return rows, cols, values, lengths

    max_count = max((c for counts in (*ref_counts, *hyp_counts) for c in counts.values()), default=1)
    MAX_T = max_count  # noqa: N806 - columns are (gram, t) flattened as gram * MAX_T + t
    shape_cols = len(vocabulary) * MAX_T
    h_rows, h_cols, h_vals, h_len = matrices(hyp_counts, False)
    r_rows, r_cols, r_vals, r_len = matrices(ref_counts, True)
    hyp = sp.csr_matrix((h_vals, (h_rows, h_cols)), shape=(len(hyp_counts), shape_cols))
    ref = sp.csr_matrix((r_vals, (r_rows, r_cols)), shape=(len(ref_counts), shape_cols))

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
    out = np.empty((len(hyp_counts), n_clips))
    for start in range(0, len(hyp_counts), block):
        stop = min(start + block, len(hyp_counts))
        pair = np.asarray(hyp_dense[start:stop].todense()) @ ref_dense_t
        pair += (hyp_sparse[start:stop] @ ref_sparse_t).toarray()
        pair *= penalty[np.abs(h_len[start:stop, None] - r_len[None, :]).astype(np.int64)]
        out[start:stop] = np.add.reduceat(pair, clip_starts, axis=1) / refs_per_clip
    return out * (10.0 / n)

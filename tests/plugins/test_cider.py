"""CIDEr-D against pycocoevalcap (the oracle)."""

import numpy as np
import pytest
from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_test

from bench_plugins.datasets.synthetic import clip_captions, clip_spec
from bench_plugins.losses import cider
from bench_plugins.losses.cider import cider_d, tokenize
from benchmark.errors import BenchError


def oracle(hypotheses, references):
    """pycocoevalcap's CiderScorer, every hypothesis against every clip, df over the clips."""
    scorer = CiderScorer(n=4, sigma=6.0)
    for refs in references:
        scorer += (hypotheses[0], refs)
    scorer.compute_doc_freq()
    out = np.zeros((len(hypotheses), len(references)))
    for row, hypothesis in enumerate(hypotheses):
        scorer.ctest = [cook_test(hypothesis)] * len(references)
        out[row] = scorer.compute_cider()
    return out


def synthetic_references(n_clips, seed=0):
    captions = [clip_captions(clip_spec(seed, "development", i, 16000, 1, 2), 5) for i in range(n_clips)]
    return [[" ".join(tokenize(c)) for c in clip] for clip in captions]


def test_equals_pycocoevalcap_on_every_caption_clip_pair():
    references = synthetic_references(25)
    references[0][0] = "a a a bell bell rings rings rings a bell"  # repeated n-grams: clipping
    references[1][1] = "bell"  # a one-word caption: no bigrams
    references[2][2] = "zebra xylophone quartet"  # n-grams no other clip has
    hypotheses = [c for clip in references for c in clip] + ["nothing in common whatsoever"]
    expected = oracle(hypotheses, references)
    ours = cider_d([h.split() for h in hypotheses], [[r.split() for r in refs] for refs in references])
    assert ours.shape == (len(hypotheses), 25)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert expected.max() > 1.0  # the comparison is not between zeros


def test_equals_pycocoevalcap_when_n_grams_are_shared_by_most_clips():
    # 80 clips: "a dog" in every one (its n-grams weigh nothing), "barks" in all but two
    # (a tiny weight), so the dense product and near-zero norms are exercised.
    references = [[f"a dog barks {w}"] if i > 1 else [f"a dog {w}"] for i, w in enumerate(f"w{i}" for i in range(80))]
    hypotheses = ["a dog", "a dog barks", "a dog barks w5", "w7 barks loudly", "a dog w1"]
    expected = oracle(hypotheses, references)
    ours = cider_d([h.split() for h in hypotheses], [[r.split() for r in refs] for refs in references])
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert np.isfinite(ours).all() and expected.max() > 1.0


def test_blocking_does_not_change_the_result():
    references = [[r.split() for r in refs] for refs in synthetic_references(12)]
    hypotheses = [r for refs in references for r in refs]
    np.testing.assert_array_equal(cider_d(hypotheses, references, block=7), cider_d(hypotheses, references))


def test_tokens_are_lower_cased_words_without_punctuation():
    assert tokenize("A dog's bark, LOUD!") == ["a", "dog", "'s", "bark", "loud"]
    assert tokenize('Someone says "hello" twice... at 5 am') == ["someone", "says", "hello", "twice", "at", "5", "am"]
    # Unlike the PTB tokenizer, hyphens and brackets split words and vanish.
    assert tokenize("a tin-roof (far away)") == ["a", "tin", "roof", "far", "away"]


def test_every_clip_needs_a_reference():
    with pytest.raises(BenchError, match="at least one reference caption for every clip"):
        cider_d([["a", "dog"]], [])
    with pytest.raises(BenchError, match="at least one reference caption for every clip"):
        cider_d([["a", "dog"]], [[["a", "dog"]], []])
    # One clip with one reference is enough; no hypotheses score nothing.
    assert cider_d([["a", "dog"]], [[["a", "dog"]]]).shape == (1, 1)
    assert cider_d([], [[["a", "dog"]]]).shape == (0, 1)



def test_sentences_assembled_in_chunks_score_the_same(monkeypatch):
    references = synthetic_references(12)
    hypotheses = [c for clip in references[:4] for c in clip] + ["", "dog dog dog dog dog"]
    tokens = [[r.split() for r in refs] for refs in references]
    whole = cider_d([h.split() for h in hypotheses], tokens)
    monkeypatch.setattr(cider, "CHUNK", 4)  # 60 references, 22 hypotheses: chunks of 4, the last ones short
    np.testing.assert_array_equal(cider_d([h.split() for h in hypotheses], tokens), whole)
    np.testing.assert_allclose(whole, oracle(hypotheses, references), rtol=0, atol=1e-6)

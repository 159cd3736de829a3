import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.metrics import audio_to_text_metrics, caption_ranks, chance_metrics, retrieval_metrics


def test_perfect_ranking_scores_one():
    similarity = np.eye(4)
    assert retrieval_metrics(similarity, [0, 1, 2, 3]) == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "mAP@10": 1.0}


def test_hand_computed_ranks_recalls_and_map():
    # 3 captions over 12 clips: own clip ranked 1st, 3rd and 11th.
    similarity = np.zeros((3, 12))
    similarity[0, 0] = 1.0
    similarity[1, [5, 6]] = 2.0
    similarity[1, 1] = 1.0
    similarity[2] = np.arange(12, 0, -1)  # clip 10 has the 11th highest score
    caption_to_audio = [0, 1, 10]
    assert caption_ranks(similarity, caption_to_audio).tolist() == [1, 3, 11]
    metrics = retrieval_metrics(similarity, caption_to_audio)
    assert metrics["R@1"] == pytest.approx(1 / 3)
    assert metrics["R@5"] == pytest.approx(2 / 3)
    assert metrics["R@10"] == pytest.approx(2 / 3)
    assert metrics["mAP@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_ties_count_against_the_system():
    similarity = np.ones((2, 5))  # every clip tied with the right one
    assert caption_ranks(similarity, [0, 4]).tolist() == [5, 5]
    assert retrieval_metrics(similarity, [0, 4])["R@1"] == 0.0


def test_audio_to_text_uses_best_of_the_clip_captions():
    # Captions 0,1 belong to clip 0; caption 2 to clip 1.
    similarity = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.4]])  # (captions, audio)
    metrics = audio_to_text_metrics(similarity, [0, 0, 1])
    # clip 0: scores [0.1, 0.8, 0.5]; best own caption 0.8 ranks 1st.
    # clip 1: scores [0.9, 0.2, 0.4]; own caption 0.4 is beaten by caption 0 only: rank 2.
    assert metrics == {"R@1": 0.5, "R@5": 1.0, "R@10": 1.0}


def test_bad_inputs_are_refused():
    with pytest.raises(BenchError, match="NaN"):
        retrieval_metrics(np.array([[np.nan, 0.0]]), [0])
    with pytest.raises(BenchError, match="entries for 2 captions"):
        retrieval_metrics(np.zeros((2, 3)), [0])
    with pytest.raises(BenchError, match="outside"):
        retrieval_metrics(np.zeros((1, 3)), [3])


def test_random_rankings_average_to_chance():
    rng = np.random.default_rng(0)
    n_audio, n_captions = 50, 20000
    similarity = rng.random((n_captions, n_audio))
    measured = retrieval_metrics(similarity, rng.integers(0, n_audio, n_captions))
    for key, expected in chance_metrics(n_audio).items():
        assert measured[key] == pytest.approx(expected, abs=0.01)

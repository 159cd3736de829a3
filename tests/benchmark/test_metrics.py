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


def ranked_at(rank, n_audio):
    """One caption whose own clip (clip 0) is ranked exactly ``rank`` among ``n_audio``."""
    similarity = np.zeros((1, n_audio))
    similarity[0, 1:rank] = 2.0  # rank - 1 other clips above it
    similarity[0, 0] = 1.0
    return similarity


@pytest.mark.parametrize("rank, ap, in_top_10", [(9, 1 / 9, 1.0), (10, 1 / 10, 1.0), (11, 0.0, 0.0)])
def test_a_clip_ranked_tenth_is_inside_map_at_10_and_r_at_10_and_the_eleventh_is_not(rank, ap, in_top_10):
    metrics = retrieval_metrics(ranked_at(rank, 20), [0])
    assert metrics["mAP@10"] == pytest.approx(ap) and metrics["R@10"] == in_top_10
    assert metrics["R@5"] == 0.0 and metrics["R@1"] == 0.0


def test_audio_to_text_ties_count_against_the_system():
    # Clip 0's only caption (0) ties with caption 1, which belongs to clip 1: rank 2.
    similarity = np.array([[0.5, 0.1], [0.5, 0.9]])  # (captions, audio)
    assert audio_to_text_metrics(similarity, [0, 1]) == {"R@1": 0.5, "R@5": 1.0, "R@10": 1.0}


@pytest.mark.parametrize("n_audio", [1, 4, 10, 11, 25])
def test_chance_is_the_mean_over_every_rank_a_random_ranking_gives(n_audio):
    # A random ranking puts the right clip at each rank 1..n with equal probability.
    per_rank = [retrieval_metrics(ranked_at(rank, n_audio), [0]) for rank in range(1, n_audio + 1)]
    expected = {key: float(np.mean([m[key] for m in per_rank])) for key in per_rank[0]}
    assert chance_metrics(n_audio) == pytest.approx(expected, abs=1e-12)

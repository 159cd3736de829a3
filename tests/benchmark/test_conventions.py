"""Metric conventions, checked against values worked out by hand on small matrices with
ties, duplicate captions and several relevant clips."""

import numpy as np
import pytest

from benchmark.conventions import CONVENTIONS, Convention, convention, per_query, ranks, relevant_clips, scores
from benchmark.errors import BenchError
from benchmark.metrics import caption_ranks, retrieval_metrics

# Query 0: clip 0 relevant, scores [0.9, 0.5, 0.9, 0.1]: one irrelevant clip ties with it.
# Query 1: clips 1 and 3 relevant, scores [0.8, 0.7, 0.6, 0.2]: relevant at positions 2 and 4.
# Query 2: clip 2 relevant, scores [0.1, 0.2, 0.3, 0.4]: one irrelevant clip higher.
SIMILARITY = np.array([
    [0.9, 0.5, 0.9, 0.1],
    [0.8, 0.7, 0.6, 0.2],
    [0.1, 0.2, 0.3, 0.4],
])
RELEVANT = [[0], [1, 3], [2]]


def test_relevant_clips_are_its_own_and_with_duplicates_those_of_identical_captions():
    captions = [("A dog barks.", "rain falls"), ("a  dog barks.",), ("wind",)]
    assert relevant_clips(captions, False) == [[0], [0], [1], [2]]
    assert relevant_clips(captions, True) == [[0, 1], [0], [1, 0], [2]]  # its own clip first


def test_ranks_count_the_irrelevant_clips_above_and_tied():
    r = ranks(SIMILARITY, RELEVANT)
    assert r.offsets.tolist() == [0, 1, 3, 4]
    assert r.clip.tolist() == [0, 1, 3, 2]
    assert r.better.tolist() == [0, 1, 2, 1]  # query 1: clip 0 above clip 1; clips 0 and 2 above clip 3
    assert r.tied.tolist() == [1, 0, 0, 0]


def test_a_clip_relevant_through_an_identical_caption_turns_irrelevant_for_own_clip_conventions():
    # Query 0's own clip 0 ties with clip 2 (an identical caption); query 1's own clip 0
    # scores below clip 1 (its caption's twin).
    r = ranks(np.array([[0.9, 0.5, 0.9, 0.1], [0.3, 0.8, 0.5, 0.1]]), [[0, 2], [0, 1]])
    assert r.positions("pessimistic").tolist() == [1, 2, 1, 3] and r.own.tolist() == [True, False, False, True]
    own = r.own_only()
    assert own.clip.tolist() == [0, 0] and own.better.tolist() == [0, 2] and own.tied.tolist() == [1, 0]
    assert own.positions("pessimistic").tolist() == [2, 3]
    assert scores(r, convention("dcase2022"))["R@1"] == 0 and scores(r, convention("dcase2025"))["R@1"] == 1


def test_positions_under_each_tie_policy():
    r = ranks(SIMILARITY, RELEVANT)
    assert r.positions("pessimistic").tolist() == [2, 2, 4, 2]
    assert r.positions("optimistic").tolist() == [1, 2, 4, 2]
    assert r.positions("expected").tolist() == [1.5, 2, 4, 2]


def test_expected_positions_of_several_relevant_clips_in_one_tie_group():
    # Relevant clips 0 and 1 tie with irrelevant clips 2 and 3: in a random order of the
    # four, the first relevant clip comes at 1 + 2/3 on average and the second at 2 + 4/3.
    r = ranks(np.array([[0.5, 0.5, 0.5, 0.5, 0.1]]), [[0, 1]])
    assert r.positions("expected") == pytest.approx([1 + 2 / 3, 2 + 4 / 3])
    assert r.positions("pessimistic").tolist() == [3, 4] and r.positions("optimistic").tolist() == [1, 2]


def test_each_metric_per_query_by_hand():
    r = ranks(SIMILARITY, RELEVANT)
    assert per_query(r, "R@1").tolist() == [0, 0, 0]  # pessimistic: query 0's tie puts it second
    assert per_query(r, "R@1", "optimistic").tolist() == [1, 0, 0]
    assert per_query(r, "R@2").tolist() == [1, 1, 1]
    assert per_query(r, "MRR@10").tolist() == [0.5, 0.5, 0.5]
    # mAP: query 1 has relevant clips at 2 and 4: (1/2 + 2/4) / 2; at k=3 only the first counts, still over R=2.
    assert per_query(r, "mAP@10").tolist() == [0.5, 0.5, 0.5]
    assert per_query(r, "mAP@3").tolist() == [0.5, 0.25, 0.5]
    # nDCG@10, query 1: (1/log2(3) + 1/log2(5)) / (1/log2(2) + 1/log2(3)).
    ndcg = per_query(r, "nDCG@10")
    assert ndcg[1] == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    assert ndcg[0] == pytest.approx(1 / np.log2(3))
    # R-precision: query 1 has R=2 and one relevant clip in its top 2.
    assert per_query(r, "R-precision").tolist() == [0, 0.5, 0]


def test_dcase2022_equals_todays_scorer_with_ties_and_one_relevant_clip_each():
    rng = np.random.default_rng(0)
    similarity = np.round(rng.standard_normal((60, 12)), 1)  # rounded: many ties
    caption_to_audio = np.repeat(np.arange(12), 5)
    r = ranks(similarity, [[c] for c in caption_to_audio])
    assert r.positions("pessimistic").tolist() == caption_ranks(similarity, caption_to_audio).tolist()
    assert scores(r, convention("dcase2022")) == pytest.approx(retrieval_metrics(similarity, caption_to_audio))


def test_conventions_name_their_metrics_and_refuse_unknown_ones():
    assert CONVENTIONS["dcase2025"].metrics[0] == "mAP@16" and CONVENTIONS["mteb"].metrics == ("nDCG@10",)
    with pytest.raises(BenchError, match="unknown metric 'mAP@0'"):
        Convention("mine", ("mAP@0",))
    with pytest.raises(BenchError, match="unknown tie policy 'random'"):
        Convention("mine", ("R@1",), ties="random")
    with pytest.raises(BenchError, match="unknown metric convention 'dcase2026'"):
        convention("dcase2026")


def test_bad_inputs_are_refused():
    with pytest.raises(BenchError, match="has no relevant clip"):
        ranks(SIMILARITY, [[0], [], [2]])
    with pytest.raises(BenchError, match="outside the similarity matrix"):
        ranks(SIMILARITY, [[0], [1], [4]])
    with pytest.raises(BenchError, match="NaN"):
        ranks(np.full((3, 4), np.nan), RELEVANT)

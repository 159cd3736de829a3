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
    assert scores(r, convention("dcase2022"))["R@1"] == 0 and scores(r, convention("judged"))["R@1"] == 1


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
    assert CONVENTIONS["dcase2025"].metrics == ("mAP@16", "mAP@10") and CONVENTIONS["dcase2025"].queries == "dcase2025"
    assert CONVENTIONS["mteb"].metrics[0] == "R@5" and CONVENTIONS["mteb"].ties == "id"
    assert CONVENTIONS["clap"].metrics[0] == "mAP@10" and not CONVENTIONS["clap"].duplicate_captions_relevant
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


def baseline_ap(row: np.ndarray, relevant: list[int], k: int) -> float:
    """The DCASE 2025 baseline's AP@k of one query, as its on_validation_epoch_end computes
    it: 0-based ranks by a double argsort of the negated row, sorted, i / (rank + 1) summed
    while rank < k, divided by the number of relevant files."""
    rank_of = np.argsort(np.argsort(-row))
    total = 0.0
    for i, rank in enumerate(sorted(int(rank_of[c]) for c in relevant), start=1):
        if rank >= k:
            break
        total += i / (rank + 1)
    return total / len(relevant)


def test_map_at_k_is_the_dcase2025_baselines_ap_with_more_relevant_clips_than_k():
    rng = np.random.default_rng(3)
    similarity = rng.standard_normal((40, 30))  # no ties
    relevant = [sorted(rng.choice(30, size=n, replace=False).tolist()) for n in rng.integers(1, 15, size=40)]
    relevant[0] = list(range(12))  # more relevant clips than k = 10: still divided by 12
    r = ranks(similarity, relevant, own=[-1] * 40)
    for k in (10, 16):
        expected = [baseline_ap(similarity[q], relevant[q], k) for q in range(40)]
        assert per_query(r, f"mAP@{k}") == pytest.approx(expected, abs=1e-12)
    # query 0 with its 12 clips ranked first: AP@10 = 10 / 12, not 1
    top = ranks(np.linspace(1, 0, 30)[None, :], [list(range(12))], own=[-1])
    assert per_query(top, "mAP@10")[0] == pytest.approx(10 / 12)
    assert per_query(top, "nDCG@10")[0] == pytest.approx(1.0)  # the ideal ranking is cut at k too


def test_ndcg_ideal_ranking_is_cut_at_k():
    # 3 relevant clips at positions 1, 2 and 5; nDCG@2 = (1 + 1/log2 3) / (1 + 1/log2 3) = 1.
    r = ranks(np.array([[0.9, 0.8, 0.7, 0.6, 0.5]]), [[0, 1, 4]])
    assert per_query(r, "nDCG@2")[0] == pytest.approx(1.0)
    assert per_query(r, "nDCG@5")[0] == pytest.approx((1 + 1 / np.log2(3) + 1 / np.log2(6)) / (1 + 1 / np.log2(3) + 0.5))


def mteb_rank(row: np.ndarray, ids: list[str], relevant: int) -> int:
    """The 1-based rank of the relevant clip as MTEB's mrr and trec_eval sort: by score, then
    by document id, both descending."""
    order = sorted(range(len(row)), key=lambda j: (row[j], ids[j].encode()), reverse=True)
    return order.index(relevant) + 1


def test_the_id_tie_policy_ranks_tied_clips_by_id_descending_as_trec_eval():
    ids = ["b.wav", "a.wav", "d.wav", "c.wav", "e.wav"]
    rng = np.random.default_rng(4)
    similarity = rng.integers(0, 3, size=(50, 5)).astype(float)  # many ties
    own = rng.integers(0, 5, size=50)
    r = ranks(similarity, [[c] for c in own], ids=ids)
    expected = [mteb_rank(similarity[q], ids, own[q]) for q in range(50)]
    assert r.positions("id").tolist() == expected
    assert per_query(r, "MRR@10", "id").tolist() == [1 / p for p in expected]


def test_the_id_tie_policy_with_several_relevant_clips_and_after_own_only():
    # clips 0..3 all tie; ids descending: d (3), c (2), b (1), a (0); relevant: 0 and 2.
    ids = ["a", "b", "c", "d"]
    r = ranks(np.array([[0.5, 0.5, 0.5, 0.5]]), [[0, 2]], ids=ids)
    assert sorted(r.positions("id").tolist()) == [2, 4]
    own = r.own_only()  # clip 2 turns irrelevant: clip 0 is behind d, c and b
    assert own.positions("id").tolist() == [4]


def test_the_id_tie_policy_needs_the_ids():
    with pytest.raises(BenchError, match="keeps ties by id"):
        ranks(SIMILARITY, RELEVANT).positions("id")


def test_a_query_without_its_own_clip_cannot_be_scored_with_its_own_clip_alone():
    r = ranks(SIMILARITY, RELEVANT, own=[0, -1, 2])
    assert r.own.tolist() == [True, False, False, True]
    with pytest.raises(BenchError, match="own clip is not among its relevant clips"):
        r.own_only()


def test_clap_is_laion_claps_mrr_at_10_over_every_caption():
    rng = np.random.default_rng(5)
    similarity = rng.standard_normal((60, 12))
    caption_to_audio = np.repeat(np.arange(12), 5)
    # LAION-CLAP: ranking = argsort(logit, descending); preds = where(ranking == truth); mean(1/(preds+1) if < 10)
    preds = np.array([int(np.flatnonzero(np.argsort(-row) == c)[0]) for row, c in zip(similarity, caption_to_audio)])
    clap = {"mAP@10": np.mean(np.where(preds < 10, 1 / (preds + 1), 0.0)),
            **{f"R@{k}": np.mean(preds < k) for k in (1, 5, 10)}}
    assert scores(ranks(similarity, [[c] for c in caption_to_audio]), convention("clap")) == pytest.approx(clap)


def test_conventions_and_ranks_cannot_be_changed_once_made():
    import dataclasses

    from benchmark.conventions import DEFAULT, Ranks

    assert DEFAULT == "dcase2022"  # what every run is scored and recorded under
    mine = Convention("mine", ("R@1",))
    assert (mine.ties, mine.duplicate_captions_relevant, mine.queries) == ("pessimistic", False, "captions")
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONVENTIONS["dcase2022"].ties = "optimistic"  # shared by every caller
    with pytest.raises(dataclasses.FrozenInstanceError):
        ranks(SIMILARITY, RELEVANT).better = np.zeros(4)
    # Ranks made by hand (as a plugin or a reader would) need no grades and no ties by id.
    hand = Ranks(np.array([0, 1, 3]), np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([1, 0, 0]),
                 np.array([0.9, 0.7, 0.6]), np.array([True, True, False]))
    assert per_query(hand, "nDCG@10").tolist() == pytest.approx([1 / np.log2(3), (1 / np.log2(3) + 1 / np.log2(5)) /
                                                                 (1 + 1 / np.log2(3))])


def test_own_only_adds_the_twins_ties_to_the_irrelevant_clips_ties():
    # Own clip 0 ties with irrelevant clip 3 and with clip 2, relevant through an identical caption.
    r = ranks(np.array([[0.5, 0.1, 0.5, 0.5]]), [[0, 2]])
    own = r.own_only()
    assert own.tied.tolist() == [2] and own.better.tolist() == [0]
    assert own.positions("pessimistic").tolist() == [3] and own.positions("optimistic").tolist() == [1]


def test_the_id_tie_policy_with_several_queries_of_several_relevant_clips():
    ids = ["e", "d", "c", "b", "a"]  # descending id order is index order
    similarity = np.array([[0.5, 0.5, 0.9, 0.5, 0.1],
                           [0.3, 0.8, 0.8, 0.8, 0.8]])
    r = ranks(similarity, [[0, 3], [3, 4]], own=[-1, -1], ids=ids)
    # query 0: clip 2 first, then the ties 0, 1, 3 in that order: relevant at 2 and 4;
    # query 1: the ties 1, 2, 3, 4: relevant at 3 and 4.
    assert [sorted(r.positions("id")[lo:hi].tolist()) for lo, hi in zip(r.offsets[:-1], r.offsets[1:])] == [[2, 4], [3, 4]]
    expected = [[mteb_rank(similarity[q], ids, c) for c in clips] for q, clips in enumerate([[0, 3], [3, 4]])]
    assert expected == [[2, 4], [3, 4]]


def test_hand_made_ranks_without_ties_by_id_refuse_the_id_policy():
    from benchmark.conventions import Ranks

    hand = Ranks(np.array([0, 1]), np.array([0]), np.array([0]), np.array([0]), np.array([0.9]), np.array([True]))
    with pytest.raises(BenchError, match="keeps ties by id"):
        hand.positions("id")


def test_the_id_policy_counts_relevant_clips_scored_higher_of_the_same_query():
    ids = ["a", "b", "c", "d"]
    # query 0: relevant 0 (0.9) and 2 (0.5, tied with 1 and 3): 2 ranks behind 0 and then id d, c: position 3
    r = ranks(np.array([[0.1, 0.2, 0.3, 0.4], [0.9, 0.5, 0.5, 0.5]]), [[3], [0, 2]], own=[-1, -1], ids=ids)
    assert r.positions("id").tolist() == [1, 1, 3]


def test_expected_positions_over_several_queries():
    # query 0: one relevant clip, alone; query 1: relevant 0 and 1 tie with irrelevant 2 and 3.
    r = ranks(np.array([[0.9, 0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 0.5, 0.5, 0.1]]), [[0], [0, 1]])
    assert r.positions("expected") == pytest.approx([1, 1 + 2 / 3, 2 + 4 / 3])


def test_bad_similarities_and_grades_are_refused():
    with pytest.raises(BenchError, match=r"similarity must be \(n_queries, n_clips\) with 2 queries"):
        ranks(SIMILARITY, [[0], [1]])
    for grades in ([[0], [1, 1], [1]], [[np.nan], [1, 1], [1]], [[-1], [1, 1], [1]], [[1], [1], [1]]):
        with pytest.raises(BenchError, match="one positive number per relevant clip"):
            ranks(SIMILARITY, RELEVANT, grades)


def test_mrr_at_k_counts_a_first_relevant_clip_at_k_and_not_after():
    r = ranks(SIMILARITY, RELEVANT)  # first relevant clips at 2, 2, 2 (pessimistic)
    assert per_query(r, "MRR@2").tolist() == [0.5, 0.5, 0.5]
    assert per_query(r, "MRR@1").tolist() == [0, 0, 0]


def test_graded_ndcg_of_a_later_query_with_more_relevant_clips_than_k():
    # query 1 ranks clips 1, 2, 3 (grades 3, 2, 1) in that order, then clip 0.
    r = ranks(np.array([[0.9, 0.1, 0.2, 0.3], [0.1, 0.9, 0.8, 0.7]]), [[0], [1, 2, 3]], [[1.0], [3.0, 2.0, 1.0]])
    assert per_query(r, "nDCG@1").tolist() == pytest.approx([1.0, 1.0])
    assert per_query(r, "nDCG@2").tolist() == pytest.approx([1.0, 1.0])
    # reversed grades: ranked 1, 2, 3 with grades 1, 2, 3; the ideal is 3, 2 at k = 2
    rev = ranks(np.array([[0.9, 0.1, 0.2, 0.3], [0.1, 0.9, 0.8, 0.7]]), [[0], [1, 2, 3]], [[1.0], [1.0, 2.0, 3.0]])
    assert per_query(rev, "nDCG@1")[1] == pytest.approx(1 / 3)
    assert per_query(rev, "nDCG@2")[1] == pytest.approx((1 + 2 / np.log2(3)) / (3 + 2 / np.log2(3)))

"""Per-query records: written whole, read back exactly, refused when missing, damaged or foreign."""

from pathlib import Path

import numpy as np
import pytest

from benchmark.conventions import convention, scores
from benchmark.errors import BenchError
from benchmark.metrics import retrieval_metrics
from benchmark.queries import QueryRecord, read, split_identity

FILES = [f"clip{i}.wav" for i in range(30)]
CAPTIONS = [(f"sound {i} one", f"sound {i} two", "a dog barks" if i % 10 == 0 else f"sound {i} three") for i in range(30)]


@pytest.fixture
def similarity():
    return np.round(np.random.default_rng(0).standard_normal((90, 30)), 1).astype(np.float32)  # with ties


def test_a_record_scores_again_as_the_run_did_and_reads_back_exactly(tmp_path, similarity):
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    caption_to_audio = np.repeat(np.arange(30), 3)
    assert scores(record.ranks, convention("dcase2022")) == pytest.approx(retrieval_metrics(similarity, caption_to_audio))
    assert record.clip_of.tolist() == caption_to_audio.tolist()
    assert record.top.shape == (90, 10) and (similarity[0, record.top[0]] == np.sort(similarity[0])[::-1][:10]).all()
    record.write(tmp_path / "r.queries.npz")
    again = read(tmp_path / "r.queries.npz", split_identity(FILES, CAPTIONS))
    for name in ("offsets", "clip", "better", "tied", "score", "own"):
        assert np.array_equal(getattr(again.ranks, name), getattr(record.ranks, name)), name
    assert np.array_equal(again.top, record.top)
    assert scores(again.ranks, convention("dcase2025")) == scores(record.ranks, convention("dcase2025"))


def test_identical_captions_on_other_clips_are_kept_as_relevant(similarity):
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    dog = 2  # clip 0's third caption: "a dog barks", as are those of clips 10 and 20
    lo, hi = record.ranks.offsets[dog], record.ranks.offsets[dog + 1]
    assert sorted(record.ranks.clip[lo:hi].tolist()) == [0, 10, 20]


def test_missing_damaged_and_foreign_records_are_refused_naming_the_file(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    with pytest.raises(BenchError, match=f"per-query record {path} does not exist"):
        read(path)
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    with pytest.raises(BenchError, match="is of another test split"):
        read(path, split_identity(FILES[::-1], CAPTIONS[::-1]))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BenchError, match=f"per-query record {path} is damaged"):
        read(path)


def test_the_worst_queries_are_shown_with_what_they_retrieved(tmp_path, similarity):
    from benchmark.rescoring import Stored, rank_histogram, worst

    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    record.write(tmp_path / "r.queries.npz")
    stored = Stored(tmp_path / "r.json", None, read(tmp_path / "r.queries.npz"))
    counts = dict(rank_histogram(stored))
    assert sum(counts.values()) == 90 and set(counts) == {"1", "2-5", "6-10", "11-50", "51-100", "101+"}
    rank = record.ranks.own_only().positions("pessimistic")
    (miss,) = worst(stored, 1)
    q = int(np.argmax(rank))
    assert miss.rank == rank[q] and miss.caption == CAPTIONS[q // 3][q % 3] and miss.clip == FILES[q // 3]
    assert [name for name, _ in miss.retrieved] == [FILES[c] for c in record.top[q][:5]]


def test_a_recall_curve_gives_the_runs_r_at_k(tmp_path, similarity):
    from benchmark.figures import recall_curve
    from benchmark.rescoring import Stored

    stored = Stored(tmp_path / "r.json", None, QueryRecord.from_similarity(similarity, FILES, CAPTIONS))
    curve = recall_curve(stored)
    expected = retrieval_metrics(similarity, np.repeat(np.arange(30), 3))
    assert [curve[k - 1] for k in (1, 5, 10)] == pytest.approx([expected[f"R@{k}"] for k in (1, 5, 10)])
    assert len(curve) == 50 and curve[-1] == 1.0 and (np.diff(curve) >= 0).all()


def test_a_datasets_judgements_add_relevant_clips_and_bad_ones_are_named(similarity):
    from benchmark.api import Split
    from benchmark.queries import Relevance

    split = Split("test", tuple(Path(f) for f in FILES), tuple(tuple(c) for c in CAPTIONS))
    judged = [["clip5.wav"] if q == 0 else [] for q in range(90)]
    relevance = Relevance.of(split, False, judged)
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, relevance)
    lo, hi = record.ranks.offsets[0], record.ranks.offsets[1]
    assert sorted(record.ranks.clip[lo:hi].tolist()) == [0, 5]
    dog = record.ranks.offsets[2]  # "a dog barks" on clips 0, 10 and 20: duplicates not counted here
    assert record.ranks.offsets[3] - dog == 1
    assert relevance.describe() == {"own_clip": True, "identical_captions": False, "judged": True, "graded": False}
    with pytest.raises(BenchError, match="name 'other.wav', which is not one of its clips"):
        Relevance.of(split, True, [["other.wav"]] + [[]] * 89)
    with pytest.raises(BenchError, match="cover 2 captions, but the split has 90"):
        Relevance.of(split, True, [[], []])


def test_graded_judgements_weigh_ndcg_are_kept_in_the_record_and_bad_grades_are_named(tmp_path, similarity):
    from benchmark.api import Split
    from benchmark.conventions import per_query
    from benchmark.queries import Relevance

    split = Split("test", tuple(Path(f) for f in FILES), tuple(tuple(c) for c in CAPTIONS))
    # Query 0 (own clip 0): clip 5 graded 3, clip 7 graded 0 (judged not relevant); the
    # own clip takes the caption's highest grade, 3.
    judged = [{"clip5.wav": 3, "clip7.wav": 0} if q == 0 else {} for q in range(90)]
    relevance = Relevance.of(split, False, judged)
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, relevance)
    lo, hi = record.ranks.offsets[0], record.ranks.offsets[1]
    assert dict(zip(record.ranks.clip[lo:hi].tolist(), record.ranks.grade[lo:hi].tolist())) == {0: 3.0, 5: 3.0}
    assert relevance.describe()["graded"] is True
    record.write(tmp_path / "q.npz")
    again = read(tmp_path / "q.npz", record.split)
    assert again.ranks.grade.tolist() == record.ranks.grade.tolist()
    # Grades weigh nDCG only; with one graded clip below another, by hand:
    halves = Relevance.of(split, False, [{"clip5.wav": 1, "clip0.wav": 2} if q == 0 else {} for q in range(90)])
    r = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, halves).ranks
    row = similarity[0]
    assert row[0] != row[5]
    position = {c: int((row > row[c]).sum() + (row == row[c]).sum()) for c in (0, 5)}  # ties ahead
    dcg = sum(g / np.log2(position[c] + 1) for c, g in ((0, 2), (5, 1)) if position[c] <= 10)
    assert per_query(r, "nDCG@10")[0] == pytest.approx(dcg / (2 + 1 / np.log2(3)))
    flat = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, Relevance.of(split, False, [["clip5.wav"]] + [[]] * 89))
    for metric in ("R@5", "mAP@10", "R-precision"):  # grades do not weigh the binary metrics
        assert per_query(r, metric).tolist() == per_query(flat.ranks, metric).tolist()
    with pytest.raises(BenchError, match="grade 'clip5.wav' -1"):
        Relevance.of(split, False, [{"clip5.wav": -1}] + [{}] * 89)

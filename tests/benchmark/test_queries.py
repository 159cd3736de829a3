"""Per-query records: written whole, read back exactly, refused when missing, damaged or foreign."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmark.conventions import convention, scores
from benchmark.errors import BenchError
from benchmark.metrics import retrieval_metrics
from benchmark.queries import Expected, QueryRecord, Relevance, config_digest, read, split_identity

FILES = [f"clip{i}.wav" for i in range(30)]
CAPTIONS = [(f"sound {i} one", f"sound {i} two", "a dog barks" if i % 10 == 0 else f"sound {i} three") for i in range(30)]


def expect(files=FILES, captions=CAPTIONS, seed=0, config=None):
    """What a result of this split, seed and configuration says of its record."""
    return Expected(split_identity(files, captions), seed, config_digest(config or {}), sum(map(len, captions)), len(files))


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
    again = read(tmp_path / "r.queries.npz", expect())
    for name in ("offsets", "clip", "better", "tied", "score", "own"):
        assert np.array_equal(getattr(again.ranks, name), getattr(record.ranks, name)), name
    assert np.array_equal(again.top, record.top)
    assert scores(again.ranks, convention("judged")) == scores(record.ranks, convention("judged"))


def test_identical_captions_on_other_clips_are_kept_as_relevant(similarity):
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    dog = 2  # clip 0's third caption: "a dog barks", as are those of clips 10 and 20
    lo, hi = record.ranks.offsets[dog], record.ranks.offsets[dog + 1]
    assert sorted(record.ranks.clip[lo:hi].tolist()) == [0, 10, 20]


def test_missing_damaged_and_foreign_records_are_refused_naming_the_file(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    with pytest.raises(BenchError, match=f"per-query record {path} does not exist"):
        read(path, expect())
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    with pytest.raises(BenchError, match="is of another test split"):
        read(path, expect(FILES[::-1], CAPTIONS[::-1]))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BenchError, match=f"per-query record {path} is damaged"):
        read(path, expect())


def test_the_worst_queries_are_shown_with_what_they_retrieved(tmp_path, similarity):
    from benchmark.rescoring import Stored, rank_histogram, worst

    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    record.write(tmp_path / "r.queries.npz")
    stored = Stored(tmp_path / "r.json", None, read(tmp_path / "r.queries.npz", expect()))
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
    again = read(tmp_path / "q.npz", expect())
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


def rewrite(path: Path, **changes) -> None:
    """Write the record at ``path`` again with some arrays replaced, as a hand edit would."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    np.savez_compressed(path, **arrays)


def test_a_record_bound_to_its_run_is_refused_for_another_seed_or_configuration(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).bound(1, {"name": "ranking"}).write(path)
    assert read(path, expect(seed=1, config={"name": "ranking"})).binding["seed"] == 1
    with pytest.raises(BenchError, match=r"written by a run of another seed \(1 vs the result's 0\)"):
        read(path, expect(seed=0, config={"name": "ranking"}))
    with pytest.raises(BenchError, match="written by a run of another configuration"):
        read(path, expect(seed=1, config={"name": "infonce"}))
    with pytest.raises(BenchError, match="holds 90 captions of 30 clips, the result 90 of 31"):
        read(path, Expected(split_identity(FILES, CAPTIONS), 1, config_digest({"name": "ranking"}), 90, 31))


@pytest.mark.parametrize("change, message", [
    ({"better": lambda a: a - 5}, "above or tied is negative"),
    ({"tied": lambda a: a + 40}, "exceeds the clips that are not relevant"),
    ({"clip": lambda a: a + 30}, "relevant clip lies outside the split"),
    ({"own": lambda a: np.zeros_like(a)}, "does not list its own clip exactly once"),
    ({"score": lambda a: np.where(np.arange(len(a)) == 3, np.nan, a).astype(a.dtype)}, "score is not finite"),
    ({"top": lambda a: a + 100}, "top clip lies outside the split"),
    ({"offsets": lambda a: a[:-1]}, "holds 89 queries, the result 90 captions"),
    ({"offsets": lambda a: np.concatenate([a[:-1], [a[-1] + 1]])}, "disagree in length"),
    ({"offsets": lambda a: a.reshape(-1, 1)}, "disagree in length"),
    ({"ahead": lambda a: a - 1 - a.max()}, "ties by id is out of range"),
])
def test_an_altered_record_is_refused_naming_the_file_and_what_disagrees(tmp_path, similarity, change, message):
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    with np.load(path) as data:
        (name, edit), = change.items()
        altered = edit(data[name])
    rewrite(path, **{name: altered})
    with pytest.raises(BenchError, match=f"per-query record {path} .*{message}"):
        read(path, expect())


def test_a_records_own_clips_must_be_the_clips_their_captions_belong_to(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, Relevance(duplicates=False))
    record.write(path)
    with np.load(path) as data:
        clip = data["clip"].copy()
    clip[[0, 3]] = clip[[3, 0]]  # two captions' own clips swapped: ranges and counts still hold
    rewrite(path, clip=clip)
    with pytest.raises(BenchError, match="own clip is not the clip it belongs to"):
        read(path, expect())


def test_an_inflated_record_is_refused_before_anything_is_decompressed(tmp_path, similarity):
    import tracemalloc
    import zipfile

    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    # 16 MB of zeros compress to 16 KB: the zip entry says how much it unpacks to.
    rewrite(path, better=np.zeros(2_000_000, dtype=np.int64))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    with pytest.raises(BenchError, match=f"per-query record {path} is too large for its split: its member better.npy "
                                         r"unpacks to 16,000,128 bytes"):
        read(path, expect())
    assert tracemalloc.get_traced_memory()[1] < 1_000_000
    tracemalloc.stop()
    # A header that lies about its shape (a small entry declaring 8 GB) is refused from the header.
    lying = tmp_path / "lying.queries.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(lying, "w") as target:
        for info in source.infolist():
            if info.filename != "better.npy":
                target.writestr(info.filename, source.read(info))
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, dtype=np.int64))
        header["shape"] = (10**9,)
        with target.open("better.npy", "w") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(b"\0" * 64)
    with pytest.raises(BenchError, match="its member better.npy declares 8,000,000,000 bytes"):
        read(lying, expect())


def test_a_datasets_query_set_is_kept_whole_and_scored_with_exactly_its_clips(tmp_path, similarity):
    from benchmark.conventions import per_query
    from tests.benchmark.test_conventions import baseline_ap

    # Query "sound 4 two" lists clips 7 and 9, not its own clip 4; "a dog barks" (clips 0,
    # 10, 20) lists clip 10 and its own clip 0 (first caption with the text).
    sets = {"dcase2025": [("sound 4 two", ["clip7.wav", "clip9.wav"]), ("a dog barks", ["clip10.wav", "clip0.wav"])]}
    record = QueryRecord.from_similarity(similarity.astype(np.float64) + np.arange(30) * 1e-6, FILES, CAPTIONS,
                                         sets=sets)
    path = tmp_path / "r.queries.npz"
    record.write(path)
    again = read(path, expect())
    ranks, clips = again.scored(convention("dcase2025"))
    assert clips.tolist() == [4, 0] and again.sets["dcase2025"].rows.tolist() == [13, 2]
    assert ranks.own.tolist() == [False, False, False, True]  # clip 0 sorts after clip 10 only by score
    rows = [similarity[13] + np.arange(30) * 1e-6, similarity[2] + np.arange(30) * 1e-6]
    for k in (10, 16):
        assert per_query(ranks, f"mAP@{k}").tolist() == pytest.approx(
            [baseline_ap(rows[0], [7, 9], k), baseline_ap(rows[1], [10, 0], k)], abs=1e-12)
    plain = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    with pytest.raises(BenchError, match="holds no 'dcase2025' queries"):
        plain.scored(convention("dcase2025"))


@pytest.mark.parametrize("queries, message", [
    ([("a cat", ["clip1.wav"])], "query 1 \\('a cat'\\) is not a caption of the split"),
    ([("sound 1 one", ["clip99.wav"])], "lists 'clip99.wav', which is not a file of the split"),
    ([("sound 1 one", [])], "lists no file"),
    ([("sound 1 one", ["clip1.wav", "clip1.wav"])], "lists a file twice"),
    ([("sound 1 one", ["clip1.wav"]), ("sound 1 one", ["clip2.wav"])], "query 2 .* is listed twice"),
])
def test_a_query_set_that_does_not_fit_the_split_is_named(queries, message):
    from benchmark.queries import check_query_sets

    with pytest.raises(BenchError, match=f"query set 'dcase2025', .*{message}"):
        check_query_sets({"dcase2025": queries}, FILES, CAPTIONS)


SETS = {"dcase2025": [("sound 4 two", ["clip7.wav", "clip9.wav"]), ("a dog barks", ["clip10.wav"])]}


@pytest.mark.parametrize("name, edit, message", [
    ("set.dcase2025.offsets", lambda a: a + 1, "its relevant clips are not listed per query"),
    ("set.dcase2025.offsets", lambda a: a[:-1], "its relevant clips are not listed per query"),
    ("set.dcase2025.scores", lambda a: np.where(a > 0, np.inf, a), "its scores are not finite"),
    ("set.dcase2025.scores", lambda a: a[:, :-1], "its scores are not finite, one row per query and a column per clip"),
    ("set.dcase2025.rows", lambda a: a + 90, "a query or clip lies outside the split"),
    ("set.dcase2025.rows", lambda a: a - 14, "a query or clip lies outside the split"),
    ("set.dcase2025.clips", lambda a: a + 30, "a query or clip lies outside the split"),
    ("set.dcase2025.clips", lambda a: a - 8, "a query or clip lies outside the split"),
])
def test_an_altered_query_set_is_refused(tmp_path, similarity, name, edit, message):
    refused_when_altered(tmp_path, similarity, name, edit, f"query set 'dcase2025': {message}")


def refused_when_altered(tmp_path, similarity, name, edit, message):
    """A record with a query set, its array ``name`` edited by hand, is refused with ``message``."""
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS, sets=SETS).write(path)
    with np.load(path) as data:
        altered = edit(data[name])
    rewrite(path, **{name: altered})
    with pytest.raises(BenchError, match=f"per-query record {path} is (inconsistent|damaged).*{message}"):
        read(path, expect())


def test_a_record_of_an_earlier_bench_reads_without_binding_or_ties_by_id(tmp_path, similarity):
    import json

    path = tmp_path / "r.queries.npz"
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS)
    record.write(path)
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name not in ("ahead", "meta")}
        meta = json.loads(str(data["meta"]))
    meta["version"] = 1
    del meta["binding"], meta["sets"]
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    old = read(path, expect(seed=7, config={"any": 1}))  # nothing binds it: the metrics check in load() does
    assert old.binding == {} and old.sets == {} and old.ranks.ahead is None
    assert np.array_equal(old.ranks.tied, record.ranks.tied)
    meta["version"] = 3
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(BenchError, match="has version 3; this bench reads versions 1, 2"):
        read(path, expect())


def test_a_record_with_a_member_it_should_not_have_is_refused(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    rewrite(path, extra=np.zeros(3))
    with pytest.raises(BenchError, match="is damaged or not a record \\(unexpected member extra.npy\\)"):
        read(path, expect())


def test_the_size_caps_follow_the_split(tmp_path, similarity):
    from benchmark.queries import _caps

    caps = _caps(expect())  # 90 captions of 30 clips
    assert caps["offsets"] == 8 * 91 and caps["top"] == 8 * 90 * 10 and caps["clip"] == 8 * 90 * 30
    assert caps["set.rows"] == 8 * 90 and caps["set.scores"] == 8 * 90 * 30 and caps["meta"] == 4 * (2**20 + 1024 * 120)
    # a record exactly at its split's size reads; one query more than the result has is refused
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    read(path, expect())
    with np.load(path) as data:
        top = data["top"]
    rewrite(path, top=np.concatenate([top, top[:1]]))
    with pytest.raises(BenchError, match="top clips are not one row per query"):
        read(path, expect())


def test_the_identities_written_into_records_and_results_keep_their_form():
    """Split identities and configuration digests are stored in files: their form never changes."""
    assert split_identity(["a.wav", "b.wav"], [["x", "y"], ["z"]]) == {"files": "f6e46674a05ffd7e",
                                                                       "captions": "731dd3615b3d4e95"}
    assert config_digest({"name": "ranking", "lr": 0.001}) == "c5aa6eb7f8efcf4d"
    assert config_digest({"t": (1, 2)}) == config_digest({"t": [1, 2]})  # as the result's JSON holds it


def test_records_and_their_parts_cannot_be_changed_once_made(similarity):
    import dataclasses

    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, sets=SETS)
    for thing, field in ((record, "top"), (record.sets["dcase2025"], "rows"), (Relevance(), "graded"),
                         (expect(), "seed")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(thing, field, None)


def test_every_rows_top_clips_are_its_best_in_order(similarity):
    record = QueryRecord.from_similarity(similarity + np.arange(30) * 1e-4, FILES, CAPTIONS)
    best = np.argsort(-(similarity + np.arange(30) * 1e-4), axis=1, kind="stable")[:, :10]
    assert np.array_equal(record.top, best)


def test_a_record_from_rows_by_text_ranks_the_captions_or_only_the_sets_it_covers(similarity):
    texts = [t for c in CAPTIONS for t in c]
    row_of = {}
    for row, text in enumerate(texts):
        row_of.setdefault(text, similarity[row])
    whole = QueryRecord.from_rows(row_of, FILES, CAPTIONS, sets=SETS)
    direct = QueryRecord.from_similarity(np.stack([row_of[t] for t in texts]), FILES, CAPTIONS, sets=SETS)
    for name in ("clip", "better", "tied", "ahead"):
        assert np.array_equal(getattr(whole.ranks, name), getattr(direct.ranks, name)), name
    assert np.array_equal(whole.top, direct.top)
    only = QueryRecord.from_rows({t: row_of[t] for t, _ in SETS["dcase2025"]}, FILES, CAPTIONS, sets=SETS)
    assert only.ranks is None and only.top is None and list(only.sets) == ["dcase2025"]
    assert np.array_equal(only.sets["dcase2025"].scores, direct.sets["dcase2025"].scores)
    with pytest.raises(BenchError, match="holds only the dcase2025 queries"):
        only.caption_ranks()
    none = QueryRecord.from_rows({"sound 4 two": similarity[13]}, FILES, CAPTIONS, sets=SETS)
    assert none.ranks is None and none.sets == {}  # a set is kept only when every query has its row


def test_a_query_sets_ranks_keep_ties_by_id_and_an_empty_set_is_kept_empty(tmp_path):
    files, captions = ["a.wav", "b.wav", "c.wav"], [("x",), ("y",), ("z",)]
    similarity = np.array([[0.5, 0.5, 0.5], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    record = QueryRecord.from_similarity(similarity, files, captions, sets={"s": [("x", ["a.wav"])], "empty": []})
    ranks, clips = record.scored(replace(convention("dcase2025"), queries="s", ties="id"))
    assert ranks.positions("id").tolist() == [3] and clips.tolist() == [0]  # c, b, then a
    assert record.sets["empty"].scores.shape == (0, 3)
    record.write(tmp_path / "r.queries.npz")
    again = read(tmp_path / "r.queries.npz", Expected(record.split, 0, config_digest({}), 3, 3))
    assert again.sets["empty"].scores.shape == (0, 3)


def test_judgements_of_lists_and_grades_mixed_and_captions_judged_nothing():
    from benchmark.api import Split

    split = Split("test", tuple(Path(f) for f in FILES), tuple(tuple(c) for c in CAPTIONS))
    assert Relevance().graded is False and Relevance().describe()["graded"] is False
    assert QueryRecord.from_similarity(np.zeros((90, 30)), FILES, CAPTIONS).ranks.grade is None
    # caption 0 judged by a list (grade 1), caption 1 graded, the rest judged nothing: graded.
    judged = [["clip5.wav"], {"clip6.wav": 3.0}] + [[] for _ in range(88)]
    relevance = Relevance.of(split, False, judged)
    grades = relevance.grades(CAPTIONS)
    assert grades[0] == [1.0, 1.0] and grades[1] == [3.0, 3.0] and grades[2] == [1.0]
    with pytest.raises(BenchError, match="grade 'clip5.wav' nan"):
        Relevance.of(split, False, [{"clip5.wav": float("nan")}] + [{}] * 89)
    with pytest.raises(BenchError, match="grade 'clip5.wav' 'high'"):
        Relevance.of(split, False, [{"clip5.wav": "high"}] + [{}] * 89)


def test_a_record_made_by_hand_has_no_sets_and_binds_to_its_sizes():
    from benchmark.conventions import ranks as rank

    r = rank(np.eye(3), [[0], [1], [2]])
    record = QueryRecord(r, np.zeros((3, 3), dtype=np.int32), split_identity(["a", "b", "c"], [["x"], ["y"], ["z"]]))
    assert record.sets == {} and record.clip_of.tolist() == [0, 1, 2]
    assert record.bound(4, {}).binding == {"seed": 4, "config": config_digest({}), "n_captions": 3, "n_clips": 0}


@pytest.mark.parametrize("name, edit, message", [
    ("set.dcase2025.rows", lambda a: a - a + 90, "a query or clip lies outside the split"),
    ("set.dcase2025.clips", lambda a: a - a + 30, "a query or clip lies outside the split"),
    ("set.dcase2025.offsets", lambda a: np.array([0, 1, 2, 3]), "its relevant clips are not listed per query"),
    ("top", lambda a: a - a + 30, "a top clip lies outside the split"),
    ("top", lambda a: a[:, 0], "its top clips are not one row per query"),
    ("top", np.asfortranarray, "is not a plain array"),
])
def test_a_record_one_past_its_bounds_is_refused(tmp_path, similarity, name, edit, message):
    refused_when_altered(tmp_path, similarity, name, edit, message)


def test_a_stray_member_named_like_a_query_sets_part_is_refused(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    QueryRecord.from_similarity(similarity, FILES, CAPTIONS).write(path)
    rewrite(path, **{"evil.other.rows": np.zeros(3)})
    with pytest.raises(BenchError, match="unexpected member evil.other.rows.npy"):
        read(path, expect())


def test_a_record_of_query_sets_alone_and_one_made_by_hand_write_and_read_back(tmp_path, similarity):
    from benchmark.conventions import ranks as rank
    from benchmark.queries import _caps

    assert _caps(expect())["set.offsets"] == 8 * 91
    only = QueryRecord.from_rows({t: similarity[0] for t, _ in SETS["dcase2025"]}, FILES, CAPTIONS, sets=SETS)
    only.write(tmp_path / "sets.queries.npz")
    again = read(tmp_path / "sets.queries.npz", expect())
    assert again.ranks is None and again.top is None and list(again.sets) == ["dcase2025"]
    hand = QueryRecord(rank(np.eye(3), [[0], [1], [2]]), np.zeros((3, 3), dtype=np.int32), split_identity([], []))
    hand.write(tmp_path / "hand.queries.npz")
    assert read(tmp_path / "hand.queries.npz", Expected(split_identity([], []), 0, "", 3, 3)).captions == ()


def test_counts_one_past_what_the_split_allows_are_refused(tmp_path, similarity):
    path = tmp_path / "r.queries.npz"
    from benchmark.api import Split

    split = Split("t", tuple(Path(f) for f in FILES), tuple(tuple(c) for c in CAPTIONS))
    record = QueryRecord.from_similarity(similarity, FILES, CAPTIONS, Relevance.of(split, False, [{"clip5.wav": 2.0}] + [{}] * 89))
    record.write(path)
    with np.load(path) as data:
        arrays = {name: data[name].copy() for name in ("clip", "tied", "ahead", "grade", "better")}
    counts = np.diff(record.ranks.offsets)
    entry = int(np.flatnonzero(counts == 1)[0] + counts[:np.flatnonzero(counts == 1)[0]].sum())
    for name, value, message in (
            ("clip", 30, "relevant clip lies outside the split"),
            ("tied", 30 - 1 - arrays["better"][entry] + 1, "exceeds the clips that are not relevant"),
            ("ahead", 30, "ties by id is out of range"),
            ("grade", 0.0, "grade not positive")):
        altered = arrays[name].copy()
        altered[entry if name != "grade" else 0] = value
        rewrite(path, **{name: altered})
        with pytest.raises(BenchError, match=message):
            read(path, expect())
        rewrite(path, **{name: arrays[name]})
    read(path, expect())

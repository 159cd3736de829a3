"""Re-scoring stored runs: a record is read only with its own result, and runs that were
not scored on the same queries, or are not one system's seeds, are never pooled or paired."""

import zlib
from pathlib import Path

import numpy as np
import pytest

from benchmark.conventions import convention, scores
from benchmark.errors import BenchError
from benchmark.queries import QueryRecord
from benchmark.rescoring import every_seed, load, paired, seeds
from benchmark.results import Result, write

FILES = [f"clip{i}.wav" for i in range(20)]
CAPTIONS = [(f"sound {i} one", f"sound {i} two") for i in range(20)]


def stored_run(directory: Path, seed: int, *, system: str = "ranking", dataset: str = "synthetic",
               config: dict | None = None, files=FILES, captions=CAPTIONS, name: str | None = None) -> Path:
    """A result file and its record, written as a run writes them."""
    rng = np.random.default_rng([seed, zlib.crc32(system.encode())])  # each system's own scores
    similarity = rng.standard_normal((sum(map(len, captions)), len(files))).astype(np.float32)
    record = QueryRecord.from_similarity(similarity, files, captions)
    metrics = scores(record.ranks, convention("dcase2022"))
    result = Result(system=system, dataset=dataset, seed=seed, config=config or {"name": system},
                    metrics={"text_to_audio": metrics, "audio_to_text": {}}, convention="dcase2022",
                    n_clips={"test": len(files)}, n_test_captions=sum(map(len, captions)),
                    queries={"file": f"seed-{seed}.queries.npz", "split": record.split})
    path = directory / dataset / system / (name or f"seed-{seed}.json")
    write(path, result, record)
    return path


def test_a_stored_run_reads_back_with_its_metrics(tmp_path):
    run = load(stored_run(tmp_path, 0))
    assert scores(run.queries.ranks, convention("dcase2022")) == pytest.approx(run.result.text_to_audio, abs=1e-12)


def test_a_record_beside_another_seeds_result_is_refused(tmp_path):
    zero, one = stored_run(tmp_path, 0), stored_run(tmp_path, 1)
    zero.with_name("seed-0.queries.npz").write_bytes(one.with_name("seed-1.queries.npz").read_bytes())
    with pytest.raises(BenchError, match=r"seed-0.queries.npz does not match its result: it was written by a run of "
                                         r"another seed \(1 vs the result's 0\)"):
        load(zero)


def test_a_record_that_does_not_give_its_results_metrics_is_refused(tmp_path):
    path = stored_run(tmp_path, 0)
    text = path.read_text().replace('"mAP@10": 0.', '"mAP@10": 0.9', 1)
    path.write_text(text)
    with pytest.raises(BenchError, match="does not match its result: it gives mAP@10 .*, the result 0.9"):
        load(path)


def test_two_files_of_one_seed_in_a_systems_directory_are_refused(tmp_path):
    stored_run(tmp_path, 0)
    stored_run(tmp_path, 0, name="seed-0-copy.json")
    with pytest.raises(BenchError, match="are both runs of seed 0; keep one file per seed"):
        seeds(tmp_path / "synthetic" / "ranking")


def test_seeds_of_different_configurations_are_not_pooled_as_one_system(tmp_path):
    stored_run(tmp_path, 0)
    stored_run(tmp_path, 1, config={"name": "ranking", "batch_size": 64})
    with pytest.raises(BenchError, match="differ in configuration; a directory's seeds are pooled as one system"):
        seeds(tmp_path / "synthetic" / "ranking")


def test_runs_of_different_datasets_or_test_splits_are_never_rescored_or_compared_together(tmp_path):
    a = stored_run(tmp_path, 0)
    b = stored_run(tmp_path, 0, dataset="synthetic_large")
    with pytest.raises(BenchError, match="differ in dataset"):
        every_seed([a, b])
    other = stored_run(tmp_path, 0, system="infonce", captions=[(c[1], c[0]) for c in CAPTIONS])
    with pytest.raises(BenchError, match="differ in test split"):
        paired(seeds(a), seeds(other), convention("dcase2022"))


def test_compare_with_a_and_b_swapped_negates_the_difference_and_keeps_the_p_value(tmp_path):
    a, b = stored_run(tmp_path, 0), stored_run(tmp_path, 0, system="infonce")
    forward = paired(seeds(a), seeds(b), convention("dcase2022"))
    backward = paired(seeds(b), seeds(a), convention("dcase2022"))
    assert forward["mAP@10"][2].difference != 0
    for metric, (mean_a, mean_b, comparison) in forward.items():
        assert (backward[metric][0], backward[metric][1]) == (mean_b, mean_a)
        assert backward[metric][2].difference == pytest.approx(-comparison.difference)
        assert comparison.difference == pytest.approx(mean_a - mean_b)
        assert backward[metric][2].p_value == pytest.approx(comparison.p_value)


def test_compare_says_which_seeds_it_paired_and_which_it_left_out(tmp_path, capsys):
    from benchmark.cli import main

    for seed in (0, 1, 2):
        stored_run(tmp_path, seed)
    for seed in (1, 2, 3):
        stored_run(tmp_path, seed, system="infonce")
    assert main(["compare", str(tmp_path / "synthetic" / "ranking"), str(tmp_path / "synthetic" / "infonce")]) == 0
    assert "paired seeds: 1, 2 (left out, run by one side only: 0, 3)" in capsys.readouterr().out


def test_a_convention_chosen_with_other_metrics_or_ties_is_named_for_it():
    from benchmark.rescoring import choose

    chosen = choose("dcase2022", ["MRR@10", "R-precision"], "optimistic")
    assert (chosen.name, chosen.metrics, chosen.ties) == ("dcase2022+custom", ("MRR@10", "R-precision"), "optimistic")
    assert choose("mteb") == convention("mteb") and choose("clap", ties="expected").name == "clap"
    with pytest.raises(BenchError, match="unknown metric 'MRR'"):
        choose("dcase2022", ["MRR"])


def test_rescore_gives_each_metrics_mean_inside_its_interval(tmp_path):
    from benchmark.rescoring import rescore

    run = load(stored_run(tmp_path, 0))
    scored = rescore(run, convention("dcase2022"))
    assert list(scored) == ["mAP@10", "R@1", "R@5", "R@10"]
    for metric, (mean, low, high) in scored.items():
        assert mean == pytest.approx(run.result.text_to_audio[metric], abs=1e-12) and low <= mean <= high and low < high
    from benchmark.rescoring import per_query
    from benchmark.uncertainty import intervals

    values, clips = per_query(run, convention("dcase2022"))
    assert {m: scored[m][1:] for m in scored} == intervals(values, clips, seed=0)  # seeded 0: the same every time


def test_a_record_within_the_tolerance_of_its_results_metrics_reads(tmp_path):
    import json

    path = stored_run(tmp_path, 0)
    content = json.loads(path.read_text())
    content["metrics"]["text_to_audio"]["mAP@10"] += 5e-7  # float32 rounding on the way, not another run
    path.write_text(json.dumps(content))
    load(path)
    content["metrics"]["text_to_audio"]["mAP@10"] += 1e-6  # 1.5e-6 off in all
    path.write_text(json.dumps(content))
    with pytest.raises(BenchError, match="does not match its result"):
        load(path)


def test_a_result_without_a_record_is_named_with_how_to_give_it_one(tmp_path):
    import json

    path = stored_run(tmp_path, 0)
    content = json.loads(path.read_text())
    del content["queries"]
    path.write_text(json.dumps(content))
    with pytest.raises(BenchError, match="has no per-query record .* the run only scores"):
        load(path)


def test_pooled_seeds_are_one_after_the_other_with_their_clips(tmp_path):
    from benchmark.rescoring import pooled

    runs = [load(stored_run(tmp_path, seed)) for seed in (0, 1)]
    values, clips = pooled(runs, convention("dcase2022"))
    assert len(values["mAP@10"]) == 80 and clips.tolist() == np.repeat(np.arange(20), 2).tolist() * 2
    assert values["mAP@10"].mean() == pytest.approx(np.mean([r.result.text_to_audio["mAP@10"] for r in runs]))


def test_with_two_seeds_each_the_comparison_is_over_seeds_and_with_one_over_queries(tmp_path):
    for seed in (0, 1):
        stored_run(tmp_path, seed)
        stored_run(tmp_path, seed, system="infonce")
    a, b = seeds(tmp_path / "synthetic" / "ranking"), seeds(tmp_path / "synthetic" / "infonce")
    over_seeds = paired(a, b, convention("dcase2022"))["mAP@10"]
    means = [np.mean([run.result.text_to_audio["mAP@10"] for run in side.values()]) for side in (a, b)]
    assert over_seeds[:2] == pytest.approx(means) and over_seeds[2].test == "seeds"
    one = paired({0: a[0]}, {0: b[0]}, convention("dcase2022"))["mAP@10"]
    assert one[2].test != "seeds"
    assert one[2].difference == pytest.approx(a[0].result.text_to_audio["mAP@10"] - b[0].result.text_to_audio["mAP@10"])


def test_the_rank_histogram_puts_each_rank_in_its_bucket(tmp_path):
    from benchmark.rescoring import Stored, rank_histogram, worst

    n = 120
    wanted = [1, 2, 5, 6, 10, 11, 50, 51, 100, 101, 120]
    similarity = np.tile(np.linspace(1, 0, n, dtype=np.float32), (n, 1))
    for q, rank in enumerate(wanted):  # query q's own clip q takes the score of position `rank`
        row = np.delete(np.linspace(1, 0, n, dtype=np.float32), rank - 1)
        similarity[q] = np.insert(row, q, np.float32(np.linspace(1, 0, n)[rank - 1]))
    for q in range(len(wanted), n):
        similarity[q] = np.where(np.arange(n) == q, 2.0, similarity[q])
    record = QueryRecord.from_similarity(similarity, [f"c{i}.wav" for i in range(n)], [(f"q{i}",) for i in range(n)])
    stored = Stored(tmp_path / "r.json", None, record)
    assert record.own_rank[:len(wanted)].tolist() == wanted
    assert rank_histogram(stored) == [("1", 1 + n - len(wanted)), ("2-5", 2), ("6-10", 2), ("11-50", 2), ("51-100", 2),
                                      ("101+", 2)]
    misses = worst(stored, 2)
    assert [m.rank for m in misses] == [120, 101] and misses[0].caption == "q10" and misses[0].clip == "c10.wav"
    assert worst(stored, 0) == []


def test_a_result_of_a_query_set_alone_loads_under_its_own_convention(tmp_path):
    """An external DCASE 2025 result: its record holds the annotated queries only."""
    similarity = np.random.default_rng(9).standard_normal((40, 20))
    sets = {"dcase2025": [(CAPTIONS[i][0], [FILES[i], FILES[(i + 3) % 20]]) for i in range(10)]}
    record = QueryRecord.from_rows({CAPTIONS[i][0]: similarity[2 * i] for i in range(10)}, FILES, CAPTIONS, sets=sets)
    ranks, _ = record.scored(convention("dcase2025"))
    from benchmark.conventions import values

    metrics = {m: float(v.mean()) for m, v in values(ranks, convention("dcase2025")).items()}
    result = Result(system="team", dataset="synthetic", seed=0, config={"name": "team", "external": True},
                    metrics={"text_to_audio": metrics, "audio_to_text": {}}, convention="dcase2025",
                    n_clips={"test": 20}, n_test_captions=40, queries={"file": "seed-0.queries.npz", "split": record.split})
    path = tmp_path / "synthetic" / "team" / "seed-0.json"
    write(path, result, record)
    assert load(path).queries.ranks is None


def test_records_and_misses_are_frozen_and_worst_shows_ten_by_default(tmp_path):
    import dataclasses

    from benchmark.rescoring import Miss, worst

    run = load(stored_run(tmp_path, 0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.path = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        Miss("a", "b", 1, []).rank = 2
    assert len(worst(run)) == 10


def test_inspecting_under_dcase2022_ranks_the_own_clip_even_where_a_twin_caption_ranks_first(tmp_path):
    from benchmark.rescoring import Stored, first_ranks, rank_histogram, worst

    files = ["a.wav", "b.wav", "c.wav"]
    captions = [("a dog barks",), ("a dog barks",), ("rain",)]  # clips 0 and 1 share a caption
    similarity = np.array([[0.1, 0.9, 0.5], [0.2, 0.3, 0.9], [0.9, 0.1, 0.2]], dtype=np.float32)
    stored = Stored(tmp_path / "r.json", None, QueryRecord.from_similarity(similarity, files, captions))
    rank, clip = first_ranks(stored, convention("dcase2022"))
    assert rank.tolist() == [3, 2, 2] and clip.tolist() == [0, 1, 2]
    judged = first_ranks(stored, convention("judged"))  # the twin counts: query 0 finds clip 1 first
    assert judged[0].tolist() == [1, 2, 2] and judged[1].tolist() == [1, 1, 2]
    assert rank_histogram(stored) == [("1", 0), ("2-5", 3), ("6-10", 0), ("11-50", 0), ("51-100", 0), ("101+", 0)]
    assert [(m.caption, m.clip, m.rank) for m in worst(stored, 3)] == [("a dog barks", "a.wav", 3),
                                                                       ("a dog barks", "b.wav", 2), ("rain", "c.wav", 2)]


def test_the_worst_queries_of_a_query_set_show_what_its_scores_ranked_first(tmp_path):
    from benchmark.rescoring import Stored, worst

    similarity = np.random.default_rng(9).standard_normal((40, 20))
    sets = {"dcase2025": [(CAPTIONS[i][0], [FILES[(i + 3) % 20]]) for i in range(10)]}
    record = QueryRecord.from_rows({CAPTIONS[i][0]: similarity[2 * i] for i in range(10)}, FILES, CAPTIONS, sets=sets)
    misses = worst(Stored(tmp_path / "r.json", None, record), 10, conv=convention("dcase2025"))
    for miss in misses:
        q = int(miss.caption.split()[1])
        assert miss.clip == FILES[(q + 3) % 20]
        assert [name for name, _ in miss.retrieved] == [FILES[c] for c in np.argsort(-similarity[2 * q])[:5]]
        assert miss.rank == 1 + int((similarity[2 * q] > similarity[2 * q, (q + 3) % 20]).sum())


def test_a_paired_comparison_is_seeded_0_unless_told(tmp_path):
    a, b = stored_run(tmp_path, 0), stored_run(tmp_path, 0, system="infonce")
    default = paired(seeds(a), seeds(b), convention("dcase2022"))
    assert default == paired(seeds(a), seeds(b), convention("dcase2022"), seed=0)

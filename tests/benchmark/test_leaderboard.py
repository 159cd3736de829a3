import re
from pathlib import Path

import pytest

from benchmark.errors import BenchError
from benchmark.io import write_json
from benchmark.leaderboard import render, write
from benchmark.results import SCHEMA, Result, result_path


def result(**fields):
    """A result record of cider_relax with ``fields`` set."""
    scores = {"R@1": 0.1, "R@5": 0.2, "R@10": 0.3, "mAP@10": 0.2}
    return Result(system="cider_relax", dataset="d", seed=0, metrics={"text_to_audio": scores}, **fields)


def fake_result(results, dataset, system, seed, map10, r10):
    metrics = {"R@1": map10 / 2, "R@5": r10 / 2, "R@10": r10, "mAP@10": map10}
    write_json(
        result_path(results, dataset, system, seed),
        {
            "schema": SCHEMA, "system": system, "dataset": dataset, "seed": seed,
            "metrics": {"text_to_audio": metrics}, "batch_size_used": 64,
            "chance": {"R@1": 0.01, "R@5": 0.05, "R@10": 0.1, "mAP@10": 0.03},
            "protocol": {"name": "report", "train": "development+validation", "validation": "evaluation", "test": "evaluation"},
            "n_clips": {"train": 4884, "test": 100},
        },
    )


def test_a_table_per_dataset_mean_std_seeds_and_best_marked(tmp_path):
    for seed, value in enumerate([0.2, 0.4]):
        fake_result(tmp_path, "clotho_v2", "good", seed, value, 0.5)
    fake_result(tmp_path, "clotho_v2", "weak", 0, 0.1, 0.6)
    fake_result(tmp_path, "synthetic", "good", 0, 0.9, 0.9)
    text = render([tmp_path])
    assert text.index("## clotho_v2") < text.index("## synthetic")
    clotho = text.split("## clotho_v2")[1].split("## synthetic")[0]
    good_row = next(line for line in clotho.splitlines() if "`good`" in line)
    weak_row = next(line for line in clotho.splitlines() if "`weak`" in line)
    assert "**0.300 ± 0.141**" in good_row  # mAP@10 mean ± sample std, best in bold
    assert re.search(r"\|\s+2 \|\s+64 \|$", good_row)  # two seeds, batch 64
    assert "**0.600**" in weak_row and "±" not in weak_row  # best R@10; one seed measures no spread
    assert clotho.index("`good`") < clotho.index("`weak`")  # sorted by mAP@10
    assert "Chance: R@1 0.010" in clotho
    assert "Protocol `report`: trained on `development+validation` (4884 clips), checkpoint selected on `evaluation`" in clotho


def test_runs_from_several_directories_render_together_in_rows_marked_by_directory(tmp_path):
    record, mine = tmp_path / "record", tmp_path / "mine"
    fake_result(record, "synthetic", "good", 0, 0.5, 0.5)
    fake_result(record, "synthetic", "good", 1, 0.7, 0.5)
    fake_result(mine, "synthetic", "good", 0, 0.1, 0.2)
    rows = [line for line in render([record, mine]).splitlines() if "`good`" in line]
    assert len(rows) == 2  # never merged into one mean
    assert f"[{record}]" in rows[0] and "0.600 ± 0.141" in rows[0]
    assert f"[{mine}]" in rows[1] and "0.100" in rows[1]
    assert "[" not in next(line for line in render([record]).splitlines() if "`good`" in line)


def test_writes_the_file_and_refuses_empty_or_foreign_results(tmp_path):
    with pytest.raises(BenchError, match="no result files"):
        render([tmp_path])
    fake_result(tmp_path, "synthetic", "good", 0, 0.5, 0.5)
    out = tmp_path / "board" / "README.md"
    write([tmp_path], out)
    assert "`good`" in out.read_text()
    bad = tmp_path / "synthetic" / "good" / "seed-9.json"
    for content, reason in [
        (b"{not json", "Expecting property name"),
        (bytes(range(128, 256)), "'utf-8' codec can't decode"),
        (b'{"schema": 1, "system": "x", "dataset": "d", "seed": 0, "metrics": {"text_to_audio": {"R@1": 0.1}}}',
         "metrics: text_to_audio lacks R@5, R@10, mAP@10"),
    ]:
        bad.write_bytes(content)
        with pytest.raises(BenchError, match=f"seed-9.json is not a readable bench result \\({re.escape(reason)}"):
            render([tmp_path])


def test_runs_with_cpu_setup_or_overrides_get_their_own_marked_rows():
    from benchmark.leaderboard import row_label

    assert row_label(result()) == "`cider_relax`"
    assert row_label(result(config={"cpu_overrides_applied": True})) == "`cider_relax` (cpu setup)"
    assert row_label(result(overrides=["loss.margin=0.1"])) == "`cider_relax` `--set loss.margin=0.1`"


def test_random_expert_weights_are_marked_and_different_experts_get_their_own_rows(tmp_path):
    from benchmark.leaderboard import row_label

    four = [{"name": n, "weights": "random"} for n in ("openl3", "panns", "vggsound", "vggish")]
    assert row_label(result(config={"experts": four})) == "`cider_relax` (random expert weights)"
    for seed, experts in enumerate([[{"name": "logmel"}], [{"name": "logmel"}], [{"name": "openl3"}]]):
        fake_result(tmp_path, "synthetic", "cider_relax", seed, 0.3, 0.5)
        path = result_path(tmp_path, "synthetic", "cider_relax", seed)
        stored = __import__("json").loads(path.read_text())
        write_json(path, {**stored, "config": {"experts": experts}})
    rows = [line for line in render([tmp_path]).splitlines() if "`cider_relax`" in line]
    assert len(rows) == 2 and any("| logmel " in r and re.search(r"\|\s+2 \|", r) for r in rows)


def test_runs_on_audio_not_verified_against_the_release_are_marked_and_get_their_own_rows(tmp_path):
    from benchmark.leaderboard import HEADER, row_label

    adopted = {"audio_dir": "/data/my clotho", "archives_verified": False}
    assert row_label(result(dataset_source=adopted)) == "`cider_relax` (unverified audio)"
    assert row_label(result(dataset_source={"archives_verified": True})) == "`cider_relax`"
    for seed, source in enumerate([{"archives_verified": True}, {"archives_verified": True}, adopted]):
        fake_result(tmp_path, "clotho_v2", "cider_relax", seed, 0.3, 0.5)
        path = result_path(tmp_path, "clotho_v2", "cider_relax", seed)
        write_json(path, {**__import__("json").loads(path.read_text()), "dataset_source": source})
    rows = [line for line in render([tmp_path]).splitlines() if "`cider_relax`" in line]
    assert len(rows) == 2 and re.search(r"`cider_relax` \(unverified audio\) .*\|\s+1 \|", rows[1])
    assert '"(unverified audio)"\nmarks runs on audio not checked against the dataset\'s release' in HEADER


REPORTED = """
- dataset: clotho_v2
  system: paper system
  experts: a+b
  source: Someone et al. (2021), Table 9
  note: another protocol
  convention: mteb
  metrics: {R@1: 0.5, R@10: [0.9, 0.01]}
- dataset: clotho_v1
  system: only published
  source: Other (2020)
  metrics: {R@1: 0.1}
"""


def test_reported_rows_are_marked_sourced_and_never_best(tmp_path):
    fake_result(tmp_path / "results", "clotho_v2", "good", 0, 0.2, 0.5)
    (tmp_path / "reported.yaml").write_text(REPORTED)
    text = render([tmp_path / "results"], tmp_path / "reported.yaml")
    clotho = text.split("## clotho_v2")[1]
    row = next(line for line in clotho.splitlines() if "paper system" in line)
    assert "paper system (reported [1])" in row and "0.500" in row and "0.900 ± 0.010" in row and "–" in row
    assert "**" not in row and "**0.500**" in clotho  # the measured run (one seed) keeps the best R@10
    assert clotho.index("`good`") < clotho.index("paper system")
    assert "[1] Someone et al. (2021), Table 9; another protocol; scored as `mteb`." in clotho
    v1 = text.split("## clotho_v1")[1].split("## clotho_v2")[0]
    assert "[1] Other (2020); metric convention not stated." in v1  # a source that does not say
    assert "No measured runs yet" in v1 and "only published (reported [1])" in v1


def test_a_malformed_reported_file_is_named(tmp_path):
    fake_result(tmp_path / "results", "clotho_v2", "good", 0, 0.2, 0.5)
    (tmp_path / "reported.yaml").write_text("- dataset: clotho_v2\n  system: x\n  source: y\n  metrics: {R@2: 0.1}\n")
    with pytest.raises(BenchError, match=r"reported.yaml, entry 1: unknown metric\(s\) R@2"):
        render([tmp_path / "results"], tmp_path / "reported.yaml")
    (tmp_path / "reported.yaml").write_text("- dataset: clotho_v2\n  metrics: {}\n")
    with pytest.raises(BenchError, match="entry 1: needs dataset, system, source and metrics"):
        render([tmp_path / "results"], tmp_path / "reported.yaml")


def test_the_committed_leaderboard_is_its_committed_record_rendered():
    """`bench leaderboard` regenerates leaderboard/README.md from leaderboard/results exactly."""
    root = Path(__file__).resolve().parents[2]
    expected = (root / "leaderboard" / "README.md").read_text(encoding="utf-8")
    assert render([root / "leaderboard" / "results"], root / "leaderboard" / "reported.yaml") == expected


def test_bench_leaderboard_renders_the_record_by_default_and_a_users_runs_to_their_own_file(tmp_path, monkeypatch):
    from benchmark.cli import main

    monkeypatch.chdir(tmp_path)
    fake_result(Path("leaderboard/results"), "synthetic", "good", 0, 0.5, 0.5)
    fake_result(Path("results"), "synthetic", "mine", 0, 0.4, 0.5)
    assert main(["leaderboard"]) == 0
    committed = Path("leaderboard/README.md").read_text()
    assert "`good`" in committed and "`mine`" not in committed
    assert main(["leaderboard", "leaderboard/results", "results"]) == 0
    assert Path("leaderboard/README.md").read_text() == committed  # the committed file is left alone
    beside = Path("leaderboard.md").read_text()
    assert "`good` [leaderboard/results]" in beside and "`mine` [results]" in beside


def recorded_result(results, system, seed, signal, draw=0, n_clips=40):
    """A run with its per-query record: ``n_clips`` clips of 5 captions, whose own clip scores
    ``signal`` above noise (higher is better); ``draw`` picks another noise of the same kind,
    as another system no better or worse would have."""
    import numpy as np

    from benchmark.conventions import DEFAULT, convention, scores
    from benchmark.queries import QueryRecord
    from benchmark.results import queries_path
    from benchmark.results import write as write_result

    rng = np.random.default_rng([seed, draw])
    similarity = rng.standard_normal((5 * n_clips, n_clips)).astype(np.float32)
    similarity[np.arange(5 * n_clips), np.repeat(np.arange(n_clips), 5)] += signal
    files = [f"c{i}.wav" for i in range(n_clips)]
    captions = [[f"clip {i} caption {k}" for k in range(5)] for i in range(n_clips)]
    queries = QueryRecord.from_similarity(similarity, files, captions)
    path = result_path(results, "d", system, seed)
    metrics = scores(queries.ranks, convention(DEFAULT))
    write_result(path, Result(system=system, dataset="d", seed=seed, metrics={"text_to_audio": metrics},
                              convention=DEFAULT, queries={"file": queries_path(path).name, "split": queries.split},
                              n_clips={"test": n_clips}, n_test_captions=5 * n_clips),
                 queries)


def test_rows_with_records_show_intervals_and_which_cannot_be_told_from_the_best(tmp_path):
    for seed in (0, 1, 2):
        recorded_result(tmp_path, "best", seed, 2.0)
        recorded_result(tmp_path, "close", seed, 2.0, draw=1)  # differs by chance alone
        recorded_result(tmp_path, "weak", seed, 0.5)
    rows = [line for line in render([tmp_path]).splitlines() if line.startswith("| `")]
    names = [row.split("|")[1].strip() for row in rows]
    # best and close swap places by chance; the lower of the two is marked, weak never.
    assert names[0] in ("`best`", "`close`") and names[1] in ("`best` ≈ best", "`close` ≈ best") and names[2] == "`weak`"
    assert re.search(r"\*\*0\.\d{3} ± 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]\*\*", rows[0])  # seeds' spread, then the interval


def names(results):
    return [line.split("|")[1].strip() for line in render([results]).splitlines() if line.startswith("| `")]


def test_at_two_seeds_each_a_row_far_below_the_best_is_told_apart(tmp_path):
    # Each seed's training luck moves a system's scores as a whole (the signal); best and
    # far differ by about 0.2 mAP@10 at two seeds each, the per-seed differences varying.
    from benchmark.conventions import DEFAULT, convention
    from benchmark.rescoring import paired, seeds

    for seed, (best, close, far) in enumerate(((2.0, 2.1, 1.3), (2.4, 2.2, 1.1))):
        recorded_result(tmp_path, "best", seed, best)
        recorded_result(tmp_path, "close", seed, close, draw=1)
        recorded_result(tmp_path, "far", seed, far, draw=2)
    assert names(tmp_path) == ["`best`", "`close` ≈ best", "`far`"]
    # The paired t-test over the two seeds (1 degree of freedom) could not tell far from best.
    rows = {name: seeds(tmp_path / "d" / name) for name in ("best", "far")}
    assert paired(rows["best"], rows["far"], convention(DEFAULT))["mAP@10"][2].p_value > 0.05


def test_the_best_mark_needs_two_seeds_on_both_sides_not_the_same_seeds(tmp_path):
    # Three rows of one system: seeds 0 and 1, seeds 2 and 3 (none in common), and one seed.
    for seed in (0, 1):
        recorded_result(tmp_path, "early", seed, 2.0)
    for seed in (2, 3):
        recorded_result(tmp_path, "late", seed, 2.0, draw=1)
    recorded_result(tmp_path, "single", 0, 2.0, draw=2)  # as good, but its spread is unmeasured
    rows = names(tmp_path)
    assert {rows[0], rows[1]} == {"`early`", "`late` ≈ best"} or {rows[0], rows[1]} == {"`late`", "`early` ≈ best"}
    assert rows[2] == "`single`"


def test_rows_on_other_test_queries_are_never_marked(tmp_path):
    for seed in (0, 1):
        recorded_result(tmp_path, "best", seed, 2.0)
        recorded_result(tmp_path, "other split", seed, 1.9, draw=1, n_clips=41)
    assert names(tmp_path)[1] == "`other split`"

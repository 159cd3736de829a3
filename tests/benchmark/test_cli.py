"""End to end through the `bench` CLI on a small synthetic set, plus its error paths."""

import json
import re
import time

import pytest

from benchmark.cache import MARKER
from benchmark.cli import main
from benchmark.plan import system_dir
from tests.conftest import TINY, dataset_args

SMALL = {"n_development": 160, "n_validation": 40, "n_evaluation": 40, "min_seconds": 0.5, "max_seconds": 1.0}
FAST = ["--set", "schedule.epochs=10", "--set", "batch_size=64", "--set", "optimizer.lr=1e-3"]
#: The four pretrained experts with random weights: the README's offline main command.
RANDOM = ["--expert-weights", "random"]
#: Tests of the pipeline's mechanics use the weight-free expert, which is fast.
LOGMEL = ["--set", "experts=[{name: logmel, frame_rate: 2.0}]"]


def bench(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run of the ranking system: generation, extraction, training, scoring."""
    output = tmp_path_factory.mktemp("results")
    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(SMALL), *FAST, *LOGMEL, "--output", output)
    assert code == 0
    (path,) = output.glob("*/ranking*/seed-0.json")
    return output, path, json.loads(path.read_text())


def test_a_run_writes_one_complete_result(trained):
    _, path, result = trained
    # A run with --set overrides has a place of its own: never the system's as registered.
    assert path.parent.name == system_dir("ranking", FAST[1::2] + LOGMEL[1::2]) != "ranking"
    assert result["system"] == "ranking" and result["seed"] == 0 and result["dataset_name"] == "synthetic"
    assert set(result["metrics"]["text_to_audio"]) == {"R@1", "R@5", "R@10", "mAP@10"}
    assert set(result["metrics"]["audio_to_text"]) == {"R@1", "R@5", "R@10"}
    assert result["config"]["loss"] == {"name": "ranking", "margin": 0.2, "matching_weight": 0.0, "relax": None}
    assert result["config"]["cpu_overrides_applied"] is True
    assert result["config"]["schedule"]["epochs"] == 10  # the resolved config, overrides included
    assert result["batch_size_used"] == 64 and result["n_test_captions"] == 5 * 40
    assert result["protocol"] == {"name": "standard", "train": "development", "validation": "validation", "test": "evaluation"}
    assert result["environment"]["packages"]["torch"]
    assert result["checkpoint"]["selected_by"] == "val_loss"
    assert set(result["timings_s"]) >= {"prepare", "features", "train", "evaluate", "total"}


def test_the_trained_system_beats_chance_by_far(trained):
    _, _, result = trained
    assert result["metrics"]["text_to_audio"]["R@10"] > 2.5 * result["chance"]["R@10"]
    assert result["metrics"]["text_to_audio"]["mAP@10"] > 3 * result["chance"]["mAP@10"]


def test_a_run_keeps_its_per_query_record_and_scores_again_without_the_model(trained, tmp_path, capsys):
    _, path, result = trained
    stored = result["metrics"]["text_to_audio"]
    assert result["convention"] == "dcase2022" and result["queries"]["file"] == "seed-0.queries.npz"
    assert result["relevance"] == {"own_clip": True, "identical_captions": True, "judged": False, "graded": False}
    assert all(low <= stored[metric] <= high for metric, (low, high) in result["intervals"].items())
    assert bench("rescore", path) == 0
    out = capsys.readouterr().out
    assert f"| {stored['mAP@10']:.3f} [{result['intervals']['mAP@10'][0]:.3f}, " in out
    label = "ranking --set schedule.epochs=10 --set batch_size=64 --set optimizer.lr=1e-3 --set experts=[{name: logmel, "
    assert f"| {label}frame_rate: 2.0}}] " in out  # the run is named with its overrides
    assert bench("rescore", path, "--convention", "mteb", "--ties", "optimistic") == 0
    assert "nDCG@10" in capsys.readouterr().out
    assert bench("compare", path, path.parent) == 0  # a run against itself: no difference
    assert "| mAP@10   | " in (out := capsys.readouterr().out) and "+0.000 [+0.000, +0.000] | 1.000" in out
    assert f"A: {path} ({label}frame_rate: 2.0}}])\nB: {path.parent} ({label}" in out
    assert bench("inspect", path, "--worst", "2") == 0
    out = capsys.readouterr().out
    assert f"rank of each caption's own clip ({result['n_test_captions']} queries):" in out
    assert out.count("; retrieved first:") == 2 and "\n    1. " in out and "\n    5. " in out
    assert bench("plot", "recall", path, "--output", tmp_path / "recall.png") == 0
    assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench("plot", "recall") == 2 and "needs result files" in capsys.readouterr().err
    # A system's directory stands for its seeds, as for compare; inspect wants one of them.
    assert bench("rescore", path.parent) == 0 and str(path) in capsys.readouterr().out
    assert bench("plot", "recall", path.parent, "--output", tmp_path / "seeds.png") == 0
    assert (tmp_path / "seeds.png").is_file()
    assert bench("inspect", path, "--worst", "-1") == 2 and "--worst -1: give how many" in capsys.readouterr().err
    assert bench("inspect", path.parent) == 2
    assert f"{path.parent} is a directory, not a result file: name one of its result files" in capsys.readouterr().err
    assert bench("rescore", tmp_path / "absent.json") == 2
    assert f"result file {tmp_path / 'absent.json'} does not exist" in capsys.readouterr().err
    older = tmp_path / "seed-0.json"
    older.write_text(json.dumps({k: v for k, v in result.items() if k not in ("convention", "intervals", "queries")}))
    assert bench("rescore", older) == 2
    assert f"result {older} has no per-query record" in capsys.readouterr().err


def test_an_existing_result_is_reused_and_never_overwritten_without_force(trained, tmp_path, capsys):
    import shutil

    output, path, _ = trained
    before = path.read_bytes()
    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(SMALL), *FAST, *LOGMEL]
    code = bench(*args, "--output", output)
    assert code == 0 and path.read_bytes() == before
    captured = capsys.readouterr()
    assert f"result {path} already exists: not re-running" in captured.err and "R@10" in captured.out
    # In its place, a result of another configuration (the system file changed since) is refused.
    copy = tmp_path / "out"
    shutil.copytree(output, copy, ignore=shutil.ignore_patterns("*.run"))
    theirs = json.loads(before)
    theirs["config"]["loss"]["margin"] = 0.3
    (mine := copy / path.relative_to(output)).write_text(json.dumps(theirs))
    code = bench(*args, "--output", copy)
    assert code == 2 and json.loads(mine.read_text()) == theirs
    assert "exists for a different configuration" in capsys.readouterr().err


def test_a_truncated_result_is_named_on_rerun_and_force_replaces_it(trained, tmp_path, capsys):
    import shutil

    output, path, _ = trained
    copy = tmp_path / "out"
    shutil.copytree(output, copy, ignore=shutil.ignore_patterns("*.run"))
    mine = copy / path.relative_to(output)
    mine.write_bytes(path.read_bytes()[:100])
    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(SMALL), *FAST, *LOGMEL]
    assert bench(*args, "--output", copy) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"result file {mine} is not a readable bench result" in err and "--force" in err


def test_force_never_deletes_through_a_symlinked_run_directory(trained, tmp_path, capsys):
    import shutil

    output, path, _ = trained
    copy = tmp_path / "out"
    shutil.copytree(output, copy, ignore=shutil.ignore_patterns("*.run"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not bench's")
    link = copy / path.relative_to(output).with_suffix(".run")
    link.symlink_to(elsewhere)
    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(SMALL), *FAST, *LOGMEL, "--force"]
    assert bench(*args, "--output", copy) == 2
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]  # one line, after the run's log
    assert f"run directory {link} is a symbolic link" in error and err.endswith(error + "\n")
    assert (elsewhere / "keep.txt").read_text() == "not bench's" and link.is_symlink()


def test_an_unexpected_failure_is_one_line_and_debug_shows_its_traceback(monkeypatch, capsys):
    import benchmark.leaderboard

    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero\nsecond line")

    monkeypatch.setattr(benchmark.leaderboard, "render", broken)
    assert bench("leaderboard", "--output", "unused.md") == 1
    err = capsys.readouterr().err
    assert err == "error: ZeroDivisionError: float division by zero (run again with --debug for the traceback)\n"
    with pytest.raises(ZeroDivisionError):
        bench("leaderboard", "--output", "unused.md", "--debug")
    monkeypatch.setenv("BENCH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        bench("leaderboard", "--output", "unused.md")


def test_a_result_of_another_configuration_written_during_training_is_not_overwritten(tmp_path, monkeypatch, capsys):
    import benchmark.train

    fit = benchmark.train.Trainer.fit

    def fit_while_another_writes(self):
        selected = fit(self)
        (result,) = (tmp_path / "out").glob("*/ranking-set-*")
        (result / "seed-0.json").write_text(json.dumps(theirs))
        return selected

    theirs = {"schema": 1, "system": "ranking", "dataset": "d", "seed": 0, "config": {"other": True},
              "metrics": {"text_to_audio": {"R@1": 0.1, "R@5": 0.2, "R@10": 0.3, "mAP@10": 0.1}}}
    monkeypatch.setattr(benchmark.train.Trainer, "fit", fit_while_another_writes)
    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), *LOGMEL,
                 "--set", "schedule.epochs=1", "--output", tmp_path / "out")
    captured = capsys.readouterr()
    assert code == 2 and "exists for a different configuration" in captured.err
    assert "--device auto found no CUDA device: running on the CPU" in captured.err  # said, not silent
    (result,) = (tmp_path / "out").glob("*/ranking-set-*/seed-0.json")
    assert json.loads(result.read_text()) == theirs


def test_leaderboard_is_generated_from_the_results(trained, tmp_path):
    output, _, _ = trained
    board = tmp_path / "README.md"
    assert bench("leaderboard", output, "--output", board) == 0
    text = board.read_text()
    assert "`ranking` (cpu setup) `--set schedule.epochs=10`" in text and "| logmel " in text and "## synthetic-" in text


def test_the_reference_system_runs_offline_with_random_expert_weights(tmp_path, capsys):
    """The README's offline main command, on a tiny set: the four experts, random weights, recorded and marked."""
    args = ["run", "--system", "cider_relax", "--dataset", "synthetic", *dataset_args(TINY), "--output", tmp_path,
            "--set", "schedule.epochs=2", "--set", "batch_size=8"]
    assert bench(*args) == 2  # no weights here, and none downloadable: refused with directions
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: expert 'openl3': needs the weights file") and "--expert-weights random" in err
    assert bench(*args, *RANDOM) == 0
    (path,) = tmp_path.glob("*/cider_relax-set-*/seed-0.json")
    result = json.loads(path.read_text())
    assert [e["name"] for e in result["config"]["experts"]] == ["openl3", "panns", "vggsound", "vggish"]
    assert all(e["weights"] == "random" for e in result["config"]["experts"]) and result["expert_weights"] == "random"
    assert result["experts"]["panns"]["weights"] == {"random": 0} and result["experts"]["vggish"]["dim"] == 128
    board = tmp_path / "board.md"
    assert bench("leaderboard", tmp_path, "--output", board) == 0
    assert "`cider_relax` (cpu setup) (random expert weights)" in board.read_text()


def test_list_show_and_prepare(capsys):
    assert bench("list", "experts") == 0
    assert "logmel" in capsys.readouterr().out
    assert bench("show", "ranking", "--set", "loss.margin=0.5") == 0
    assert "margin: 0.5" in capsys.readouterr().out
    assert bench("prepare", "--dataset", "synthetic", *dataset_args(TINY)) == 0
    out = capsys.readouterr().out
    assert "protocol standard:" in out and re.search(r"test +evaluation +8 clips", out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--system", "rankng", "--dataset", "synthetic"], "unknown system 'rankng'; did you mean 'ranking'"),
        (["run", "--system", "ranking", "--dataset", "synthetc"], "unknown dataset 'synthetc'; did you mean 'synthetic' or 'synthetic_large'?"),
        (["list", "exprts"], "unknown plugin kind 'exprts'; did you mean 'experts'"),
        (["show", "ranking", "--set", "head.name=meanpol"], "unknown head 'meanpol'; did you mean 'meanpool'?"),
        (["prepare", "--dataset", "synthetic", "-D", "n_dev=3"], "dataset 'synthetic' has no option 'n_dev'"),
        (["sweep", "--systems", "ranking,rankng", "--datasets", "synthetic"], "unknown system 'rankng'; did you mean"),
        (["sweep", "--systems", "ranking", "--datasets", "synthetic", "--seeds", "1,x"], "--seeds '1,x': expected non-negative integers"),
        (["sweep", "--systems", "ranking", "--datasets", "synthetic", "--seeds", "0,-1"], "--seeds '0,-1': expected non-negative integers"),
        (["extract", "--system", "ranking", "--dataset", "synthetic", "--shard", "2/2"], "--shard '2/2': expected I/N"),
    ],
)
def test_unknown_names_get_one_line_did_you_mean_errors(args, message, capsys):
    assert bench(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "--seed -1: expected a non-negative integer"),
        (["--set", "checkpoint.keep=0"], "checkpoint.keep = 0: Input should be greater than or equal to 1"),
        (["--set", "checkpoint.select=m3"], "checkpoint.select = 'm3': Input should be 'val_loss', 'm1' or 'm2'"),
        (["--set", "batch_size=1"], "batch_size = 1: Input should be greater than or equal to 2"),
        (["--set", "schedule=5"], "schedule = 5: Input should be a valid dictionary"),
        (["--set", "optimizer.lr=-1"], "optimizer.lr = -1: Input should be greater than 0"),
        (["--set", "schedule.steps_per_epoch=0"], "schedule.steps_per_epoch = 0: Input should be greater than or equal to 1"),
        (["--set", "loss=!!python/object/apply:os.system [x]"], "not a YAML value"),
    ],
)
def test_bad_settings_are_refused_in_one_line_before_any_data_is_prepared(args, message, tmp_path, capsys):
    data = tmp_path / "data"
    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), *args,
                 "--data-dir", data, "--output", tmp_path / "out", "--cache-dir", tmp_path / "cache")
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not data.exists() and not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
    if args[0] == "--set":  # `bench show` reports the same error
        assert bench("show", "ranking", *args) == 2 and message in capsys.readouterr().err


def test_an_unwritable_output_directory_is_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--output", blocker) == 2
    assert "output directory" in capsys.readouterr().err


def test_a_corrupt_audio_file_is_named(tmp_path, capsys):
    data = tmp_path / "data"
    assert bench("prepare", "--dataset", "synthetic", *dataset_args(TINY), "--data-dir", data) == 0
    (victim,) = data.glob("*/evaluation/synthetic_evaluation_00003.wav")
    victim.write_bytes(b"RIFF\x00\x00garbage")
    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--data-dir", data,
                 "--output", tmp_path / "out", "--cache-dir", tmp_path / "cache", *LOGMEL)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: cannot read audio file") and "synthetic_evaluation_00003.wav" in err


def test_ctrl_c_keeps_the_cache_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    import benchmark.train

    def interrupted(self):
        time.sleep(1.0)  # a second of training, then Ctrl-C
        raise KeyboardInterrupt

    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--output", tmp_path / "out",
            "--cache-dir", tmp_path / "cache", "--set", "schedule.epochs=1", "--set", "batch_size=8", *LOGMEL]
    monkeypatch.setattr(benchmark.train.Trainer, "fit", interrupted)
    assert bench(*args) == 130
    assert "interrupted" in capsys.readouterr().err
    markers = sorted((tmp_path / "cache").rglob(MARKER))
    assert len(markers) == 6  # logmel + captions, three splits each, all finished and kept
    stamps = [m.stat().st_mtime_ns for m in markers]
    assert not list((tmp_path / "out").rglob("seed-0.json"))

    monkeypatch.undo()
    assert bench(*args) == 0
    assert [m.stat().st_mtime_ns for m in sorted((tmp_path / "cache").rglob(MARKER))] == stamps  # reused
    (result,) = (tmp_path / "out").rglob("seed-0.json")
    timings = json.loads(result.read_text())["timings_s"]  # both invocations' time, the interrupted one's too
    assert timings["invocations"] == 2 and timings["train"] >= 1.0
    stages = ("prepare", "features", "train", "evaluate")  # each rounded to 1 ms, as is the total
    assert timings["total"] >= sum(timings[stage] for stage in stages) - 0.5e-3 * (len(stages) + 1)


def test_pretraining_then_fine_tuning(tmp_path):
    other = {**TINY, "seed": 5}
    pretrain = "pretrain={datasets: [{name: synthetic, options: %s}], epochs: 2}" % str(other).replace("'", "")
    args = ["run", "--system", "cider_relax", "--dataset", "synthetic", *dataset_args(TINY), "--output", tmp_path,
            "--set", pretrain, "--set", "schedule.epochs=1", "--set", "batch_size=8", *LOGMEL]
    assert bench(*args) == 0
    (path,) = tmp_path.glob("*/cider_relax-set-*/seed-0.json")
    result = json.loads(path.read_text())
    assert result["pretrain"]["datasets"][0].startswith("synthetic-") and result["pretrain"]["epochs"] == 2
    assert len(result["pretrain"]["history"]) == 2 and len(result["history"]) == 1
    assert result["pretrain"]["n_clips"] == TINY["n_development"]
    run_dir = path.with_suffix(".run")
    assert (run_dir / "pretrain" / "last.pt").is_file() and (run_dir / "finetune" / "last.pt").is_file()
    # Each stage's loss was prepared on its own training data, and the result says what it derived from each.
    pretrained, tuned = (r["loss_evidence"]["cider_thresholds"] for r in (result["pretrain"], result))
    assert pretrained["values"] != tuned["values"] and pretrained["method"] == tuned["method"] == "exact"


def test_a_cider_relax_run_records_the_thresholds_it_used_as_the_cache_keeps_them(tmp_path):
    args = ["run", "--system", "cider_relax", "--dataset", "synthetic", *dataset_args(TINY), "--output", tmp_path / "out",
            "--cache-dir", tmp_path / "cache", "--set", "schedule.epochs=1", "--set", "batch_size=8", *LOGMEL]
    assert bench(*args) == 0
    (path,) = (tmp_path / "out").glob("*/cider_relax-set-*/seed-0.json")
    evidence = json.loads(path.read_text())["loss_evidence"]["cider_thresholds"]
    (cached,) = (tmp_path / "cache").rglob("percentiles-*.json")  # the training split's, the one this cache holds
    assert evidence == json.loads(cached.read_text()) and evidence["percentiles"] == [80, 90, 99]
    n = TINY["n_development"]
    assert (evidence["method"], evidence["population"], evidence["rank_error"]) == ("exact", n * (n - 1) // 2, 0.0)


def test_plot_relax_writes_a_png(tmp_path, capsys):
    out = tmp_path / "relax.png"
    assert bench("plot", "relax", "--dataset", "synthetic", *dataset_args(TINY), "--output", out) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench("plot", "relx", "--dataset", "synthetic") == 2
    assert "unknown plot 'relx'; did you mean 'relax'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("system, loss", [("collaborative_gating", "ranking"), ("moee", "ranking"), ("infonce", "infonce")])
def test_baselines_run_end_to_end(system, loss, tmp_path):
    two_experts = ["--set", "experts=[{name: logmel, frame_rate: 2.0}, {name: logmel, frame_rate: 4.0, n_mels: 32}]"]
    code = bench("run", "--system", system, "--dataset", "synthetic", *dataset_args(TINY), "--set", "schedule.epochs=2",
                 *two_experts, "--output", tmp_path)
    assert code == 0
    result = json.loads(next(tmp_path.glob(f"*/{system}-set-*/seed-0.json")).read_text())
    assert result["config"]["loss"]["name"] == loss and len(result["experts"]) == 2
    assert result["text_encoder"]["model"] == "all-MiniLM-L6-v2"  # the caption side is recorded
    assert all(0.0 <= v <= 1.0 for v in result["metrics"]["text_to_audio"].values())


def test_a_run_logged_to_a_file_reports_progress_in_plain_lines(tmp_path, monkeypatch, capsys):
    """stderr is not a terminal here (captured): every long step writes plain lines, and no bar draws into the log."""
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "0")  # a line at every update
    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--data-dir", tmp_path / "data",
            "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out", "--set", "schedule.epochs=2",
            "--set", "batch_size=8", *LOGMEL]
    assert bench(*args) == 0
    err = capsys.readouterr().err
    rate, left = r"[\d.]+ (?:clips|epochs)/s", r"(?:\d+m)?[\d.]+s left"
    assert re.search(rf"^generating synthetic clips: 20/40 clips \(50%\), {rate}, {left}$", err, re.M)
    assert re.search(r"^logmel on development: 0/24 clips$", err, re.M)
    assert re.search(rf"^logmel on development: 24/24 clips in [\d.]+s \({rate}\)$", err, re.M)
    assert re.search(rf"^captions of evaluation: 8/8 clips in [\d.]+s \({rate}\)$", err, re.M)
    assert re.search(rf"^training: 1/2 epochs \(50%\), {rate}, {left}, train_loss [\d.]+, val_loss [\d.]+", err, re.M)
    assert re.search(rf"^training: 2/2 epochs in [\d.]+s \({rate}\), train_loss [\d.]+, val_loss [\d.]+", err, re.M)
    assert "\r" not in err and "Loading weights" not in err  # no bars, the caption encoder's included


def test_a_run_writes_to_the_users_results_never_to_the_committed_record(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), *LOGMEL, "--set", "schedule.epochs=1"]
    assert bench(*args) == 0
    assert list(tmp_path.glob("results/*/ranking-set-*/seed-0.json")) and not (tmp_path / "leaderboard").exists()


def test_messages_name_a_plugin_kind_in_the_singular(capsys):
    assert bench("show", "ranking", "--set", "loss.name=rankng") == 2
    assert "unknown loss 'rankng'; did you mean 'ranking'?" in capsys.readouterr().err
    assert bench("list", "loss") == 0 and "ranking" in capsys.readouterr().out


def test_a_run_whose_result_another_live_process_is_producing_stops_naming_it(tmp_path, capsys):
    import socket
    import subprocess

    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), *LOGMEL,
            "--set", "schedule.epochs=1", "--output", tmp_path]
    holder = subprocess.Popen(["sleep", "60"])
    try:
        from benchmark.data import open_dataset
        from benchmark.plugins import get_plugin_manager
        from benchmark.results import result_path

        key = open_dataset(get_plugin_manager(), "synthetic", TINY, tmp_path).key
        place = system_dir("ranking", [*LOGMEL[1::2], "schedule.epochs=1"])
        claim = result_path(tmp_path, key, place, 0).with_name("seed-0.json.claim")
        claim.parent.mkdir(parents=True)
        claim.write_text(json.dumps({"host": socket.gethostname(), "pid": holder.pid}))
        assert bench(*args) == 2
        err = capsys.readouterr().err
        assert f"is being produced by process {holder.pid} on {socket.gethostname()} (claim {claim})" in err
        assert "training" not in err and not list(tmp_path.glob("*/ranking*/seed-0.json"))
    finally:
        holder.kill()
        holder.wait()
    assert bench(*args) == 0 and not claim.exists()  # a dead holder's claim is taken over


@pytest.mark.slow
def test_two_runs_of_different_overrides_started_together_each_end_with_a_result_of_its_own(tmp_path):
    """Runs that differ in a --set override are other systems: neither waits for, refuses or replaces the other."""
    import os
    import subprocess
    import sys

    base = [sys.executable, "-m", "benchmark.cli", "run", "--system", "ranking", "--dataset", "synthetic",
            *dataset_args(TINY), *LOGMEL, "--set", "schedule.epochs=3", "--output", str(tmp_path)]
    env = {**os.environ, "BENCH_PROGRESS_SECONDS": "0"}
    bench("prepare", "--dataset", "synthetic", *dataset_args(TINY))  # both start from prepared data
    runs = [subprocess.Popen([*base, "--set", f"optimizer.lr={lr}"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for lr in ("0.0001", "0.003")]
    outcomes = [(run.wait(timeout=600), run.stderr.read()) for run in runs]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert all("training: 3/3 epochs" in err for _, err in outcomes)
    for lr in ("0.0001", "0.003"):
        place = system_dir("ranking", [*LOGMEL[1::2], "schedule.epochs=3", f"optimizer.lr={lr}"])
        (result,) = tmp_path.glob(f"*/{place}/seed-0.json")
        assert json.loads(result.read_text())["config"]["optimizer"]["lr"] == float(lr)
    assert not list(tmp_path.rglob("*.claim"))


def test_bench_mine_runs_a_registered_miner_with_its_options_and_refuses_an_unknown_one(tmp_path, monkeypatch, capsys):
    import benchmark.cli
    from benchmark.plugins import PluginManager
    from tests.benchmark.test_plugins import plugin_module

    class Counter:
        """Writes n lines into its directory."""

        def __init__(self, n: int = 1) -> None:
            self.n = n

        def run(self, ctx):
            (ctx.output / "mined.txt").write_text("pair\n" * self.n)
            return [f"kept {self.n} pairs in {ctx.output}"]

    manager = PluginManager()
    manager.add_plugin(plugin_module("miners", register_miners=lambda register: register("counter", Counter)), "m", "tests")
    monkeypatch.setattr(benchmark.cli, "_manager", lambda: manager)
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    assert bench("mine", "counter", "-O", "n=3") == 0
    assert (tmp_path / "home" / "mined" / "counter" / "mined.txt").read_text() == "pair\n" * 3
    assert "kept 3 pairs" in capsys.readouterr().out
    assert bench("mine", "counter", "-O", "size=3", "--output", tmp_path / "out") == 2
    assert "miner 'counter'" in capsys.readouterr().err and not (tmp_path / "out" / "mined.txt").exists()


ZERO_SHOT = ["--set", "schedule.epochs=0", "--set", "loss=null", "--set", "head={name: average}",
             "--set", "experts=[{name: logmel, n_mels: 384, frame_rate: 2.0}]"]


def test_a_zero_shot_system_trains_nothing_and_is_scored_and_marked_as_such(tmp_path, capsys):
    from benchmark.leaderboard import row_label
    from benchmark.results import ZERO_SHOT as RULE
    from benchmark.results import read

    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), *ZERO_SHOT,
                 "--device", "cpu", "--output", tmp_path)
    assert code == 0
    assert "zero-shot: ranking trains nothing" in capsys.readouterr().err
    (path,) = tmp_path.glob("synthetic*/ranking-set-*/seed-0.json")
    result = read(path)
    assert result.checkpoint == {"epoch": 0, "zero_shot": True, "rule": RULE} and result.history == []
    assert result.loss_evidence is None  # no loss, nothing derived
    assert 0 <= result.metrics["text_to_audio"]["mAP@10"] <= 1 and result.batch_size_used is None
    assert not (tmp_path / path.parent / "seed-0.run" / "last.pt").exists()
    assert "(zero-shot)" in row_label(result)


def test_a_zero_shot_system_with_parts_that_would_learn_is_refused(tmp_path, capsys):
    args = [a for a in ZERO_SHOT if a != "head={name: average}" and a != "--set"]
    code = bench("run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY),
                 *[x for s in args for x in ("--set", s)], "--device", "cpu", "--output", tmp_path)
    assert code == 2
    err = capsys.readouterr().err
    assert "is zero-shot (schedule.epochs 0) but" in err and "parameters" in err and "head: average" in err
    assert bench("show", "ranking", "--set", "loss=null") == 2
    assert "does not set 'loss' (only a zero-shot system, schedule.epochs 0, leaves it out)" in capsys.readouterr().err

"""A run's plan: its resolved configuration and where its result goes."""

from benchmark.plan import RunOptions, system_dir
from benchmark.plugins import get_plugin_manager
from benchmark.runner import plan
from tests.conftest import TINY

LOGMEL = ["experts=[{name: logmel, frame_rate: 2.0}]"]


def test_a_run_with_overrides_never_takes_the_place_of_the_system_as_registered(tmp_path):
    def planned(overrides):
        options = RunOptions(system="ranking", dataset="synthetic", output=tmp_path, dataset_options=dict(TINY),
                             overrides=overrides, expert_weights="random")
        return plan(options, get_plugin_manager(), "cpu")

    plain, changed = planned([]), planned(LOGMEL)
    assert plain.result == tmp_path / plain.dataset.key / "ranking" / "seed-0.json"
    assert changed.result == tmp_path / plain.dataset.key / system_dir("ranking", LOGMEL) / "seed-0.json"
    assert changed.state_dir == changed.result.with_suffix(".run") and plain.state_dir == plain.result.with_suffix(".run")
    assert changed.config["experts"] == [{"name": "logmel", "frame_rate": 2.0}] != plain.config["experts"]

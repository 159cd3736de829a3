"""Where a run's result goes and how a run is named: a run with --set overrides is another system."""

from benchmark.plan import run_label, system_dir

LOGMEL = "experts=[{name: logmel, frame_rate: 2.0}]"


def test_a_system_without_overrides_keeps_its_name_and_one_with_them_gets_a_hash_of_them():
    assert system_dir("ranking", []) == "ranking"
    assert system_dir("ranking", [LOGMEL]) == "ranking-set-2e01dcd1"  # stable: results stay findable


def test_the_hash_is_of_what_the_overrides_mean_not_how_they_are_spelt():
    same = system_dir("ranking", [LOGMEL, "schedule.epochs=5"])
    assert system_dir("ranking", ["experts = [{frame_rate: 2.00, name: 'logmel'}]", "schedule.epochs= 5"]) == same
    assert system_dir("ranking", [LOGMEL, "schedule.epochs=6"]) != same
    assert system_dir("ranking", [LOGMEL]) != same and system_dir("moee", [LOGMEL, "schedule.epochs=5"]) != same


def test_a_run_is_named_with_its_overrides_as_given():
    assert run_label("ranking", []) == "ranking"
    assert run_label("ranking", [LOGMEL, "schedule.epochs=5"]) == f"ranking --set {LOGMEL} --set schedule.epochs=5"

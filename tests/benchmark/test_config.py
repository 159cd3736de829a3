import pytest

from benchmark.config import DEFAULTS, apply_overrides, resolve_system
from benchmark.errors import BenchError
from benchmark.plugins import PluginManager, get_plugin_manager

from tests.benchmark.test_plugins import plugin_module


def manager_with_systems(systems):
    """The installed plugins plus extra systems registered as data."""
    manager = PluginManager()
    manager.load_entry_points()

    def register_systems(register):
        for name, config in systems.items():
            register(name, config)

    manager.add_plugin(plugin_module("extra", register_systems=register_systems), "extra", "tests")
    return manager


def test_cider_relax_is_the_reports_setup():
    config = resolve_system("cider_relax", get_plugin_manager())
    assert config["loss"] == {
        "name": "ranking", "margin": 0.2, "matching_weight": 3.0,
        "relax": {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]},
    }
    assert config["head"] == {"name": "transformer"} and config["fusion"] == {"name": "mean"}
    assert config["text_encoder"]["model"] == "all-MiniLM-L6-v2" and config["text_encoder"]["trainable"] is True
    assert config["optimizer"]["lr"] == 1e-4 and config["schedule"]["steps_per_epoch"] == 16
    assert config["batch_size"] == 512
    assert config["checkpoint"] == {"monitor": ["val_loss", "m1", "m2"], "select": "val_loss", "keep": 3}
    assert set(DEFAULTS) <= set(config)


def test_ablations_differ_from_cider_relax_only_where_they_say():
    manager = get_plugin_manager()
    base = resolve_system("cider_relax", manager)

    def differences(name):
        config = resolve_system(name, manager)
        assert config["inherits"] == ["cider_relax"]
        return {k: config[k] for k in config if k not in ("name", "inherits", "description") and config[k] != base[k]}

    no_relax = {**base["loss"], "relax": None}
    assert differences("ranking") == {"loss": {**no_relax, "matching_weight": 0.0}}
    assert differences("ranking_matching") == {"loss": no_relax}
    assert differences("cider_relax_no_matching") == {"loss": {**base["loss"], "matching_weight": 0.0}}
    assert differences("cider_relax_meanpool") == {"head": {"name": "meanpool"}}


def test_baselines_are_registered_as_published():
    manager = get_plugin_manager()
    gating = resolve_system("collaborative_gating", manager)
    assert [e["name"] for e in gating["experts"]] == ["vggish", "vggsound"]
    assert gating["head"] == {"name": "avgmaxpool"} and gating["fusion"] == {"name": "collaborative_gating"}
    assert gating["loss"] == {"name": "ranking", "margin": 0.2, "matching_weight": 0.0, "relax": None}
    assert "all-MiniLM-L6-v2" in gating["description"] and gating["text_encoder"]["model"] == "all-MiniLM-L6-v2"
    moee = resolve_system("moee", manager)
    assert moee["inherits"] == ["collaborative_gating", "cider_relax"]
    assert {k: v for k, v in moee.items() if v != gating[k]}.keys() == {"name", "inherits", "description", "fusion"}
    infonce = resolve_system("infonce", manager)
    base = resolve_system("cider_relax", manager)
    assert infonce["loss"] == {"name": "infonce", "temperature": 0.07}  # no ranking settings left over
    assert all(infonce[k] == base[k] for k in ("experts", "head", "fusion", "text_encoder"))


def test_a_component_switching_plugin_drops_the_parents_settings():
    manager = manager_with_systems({"child": {"include": "cider_relax", "loss": {"name": "infonce", "temperature": 0.1}}})
    assert resolve_system("child", manager)["loss"] == {"name": "infonce", "temperature": 0.1}
    manager = manager_with_systems({"child": {"include": "cider_relax", "loss": {"margin": 0.5}}})
    assert resolve_system("child", manager)["loss"]["matching_weight"] == 3.0  # no name: settings merge


def test_one_single_expert_variant_per_expert_of_cider_relax():
    manager = get_plugin_manager()
    experts = resolve_system("cider_relax", manager)["experts"]
    for expert in experts:
        variant = resolve_system(f"cider_relax_{expert['name']}", manager)
        assert variant["experts"] == [expert] and variant["inherits"] == ["cider_relax"]


def test_cpu_overrides_apply_on_cpu_only_and_set_wins():
    manager = get_plugin_manager()
    assert resolve_system("cider_relax", manager, device_type="cuda")["batch_size"] == 512
    cpu = resolve_system("cider_relax", manager, device_type="cpu")
    assert cpu["batch_size"] == 128 and cpu["text_encoder"]["trainable"] is False and cpu["cpu_overrides_applied"]
    assert resolve_system("cider_relax", manager, ["batch_size=32"], device_type="cpu")["batch_size"] == 32


def test_a_child_overrides_a_few_keys_and_inherits_the_rest():
    manager = manager_with_systems(
        {
            "child": {"include": "ranking", "loss": {"margin": 0.1}, "experts": ["logmel", "logmel"]},
            "grandchild": {"include": "child", "schedule": {"epochs": 3}},
        }
    )
    config = resolve_system("grandchild", manager)
    assert config["inherits"] == ["child", "ranking", "cider_relax"]
    assert config["loss"] == {"name": "ranking", "margin": 0.1, "matching_weight": 0.0, "relax": None}  # dicts merge
    assert config["experts"] == [{"name": "logmel"}, {"name": "logmel"}]  # lists replace
    assert config["schedule"] == {"epochs": 3, "steps_per_epoch": 16}
    assert config["head"] == {"name": "transformer"}


def test_include_cycles_unknown_keys_and_unknown_plugins_are_errors():
    manager = manager_with_systems(
        {
            "a": {"include": "b"},
            "b": {"include": "a"},
            "typo": {"include": "ranking", "los": {"name": "ranking"}},
            "bad_expert": {"include": "ranking", "experts": ["logmell"]},
        }
    )
    with pytest.raises(BenchError, match="includes itself: a -> b -> a"):
        resolve_system("a", manager)
    with pytest.raises(BenchError, match="system 'typo' sets unknown key\\(s\\) los"):
        resolve_system("typo", manager)
    with pytest.raises(BenchError, match="unknown expert 'logmell'; did you mean 'logmel'"):
        resolve_system("bad_expert", manager)
    with pytest.raises(BenchError, match="unknown system 'rankin'; did you mean 'ranking'"):
        resolve_system("rankin", manager)


def test_overrides_parse_values_as_yaml():
    config = apply_overrides(DEFAULTS, ["schedule.epochs=5", "optimizer.lr=3e-4", "mixed_precision=false"])
    assert config["schedule"]["epochs"] == 5 and config["optimizer"]["lr"] == 3e-4
    assert config["mixed_precision"] is False
    with pytest.raises(BenchError, match="unknown key 'epochs'"):
        apply_overrides(DEFAULTS, ["epochs=5"])
    with pytest.raises(BenchError, match="expected KEY=VALUE"):
        apply_overrides(DEFAULTS, ["schedule.epochs"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("checkpoint.keep=0", "checkpoint.keep = 0: Input should be greater than or equal to 1"),
        ("checkpoint.select=m3", "checkpoint.select = 'm3': Input should be 'val_loss', 'm1' or 'm2'"),
        ("checkpoint.monitor=[m1]", "select 'val_loss' must be one of monitor ['m1']"),
        ("batch_size=1", "batch_size = 1: Input should be greater than or equal to 2"),
        ("batch_size=true", "batch_size = True: Input should be a valid integer"),
        ("schedule=5", "schedule = 5: Input should be a valid dictionary"),
        ("schedule.epoch=3", "schedule.epoch = 3: unknown setting; known: epochs, steps_per_epoch"),
        ("schedule.steps_per_epoch=0", "schedule.steps_per_epoch = 0: Input should be greater than or equal to 1"),
        ("optimizer.lr=-1", "optimizer.lr = -1: Input should be greater than 0"),
        ("optimizer.name=sgd", "optimizer.name = 'sgd': Input should be 'adamw'"),
        ("pretrain={datasets: [], epochs: 2}", "pretrain.datasets = []: List should have at least 1 item"),
        ("loss.margn=0.2", "loss 'ranking' has no option 'margn' (system 'loss'); options: margin, matching_weight, relax"),
        ("head.input_dim=3", "head 'transformer' has no option 'input_dim' (system 'head')"),
        ("experts=[{name: logmel, n_mel: 3}]", "expert 'logmel' has no option 'n_mel' (system 'experts')"),
    ],
)
def test_bad_settings_are_refused_when_the_configuration_is_resolved(override, message):
    with pytest.raises(BenchError) as caught:
        resolve_system("ranking", get_plugin_manager(), [override])
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_overrides_that_are_not_plain_yaml_are_refused_naming_the_option():
    with pytest.raises(BenchError, match=r"--set 'loss=!!python/object/apply:os.system \[x\]': not a YAML value"):
        apply_overrides(DEFAULTS, ["loss=!!python/object/apply:os.system [x]"])
    with pytest.raises(BenchError, match=r"--set 'experts=\[a': not a YAML value \(expected ',' or '\]'"):
        apply_overrides(DEFAULTS, ["experts=[a"])


def test_an_optional_key_is_absent_unless_a_system_sets_it_and_a_run_under_another_protocol_is_told():
    from types import SimpleNamespace

    from benchmark.plan import Plan

    manager = manager_with_systems({"paper": {"include": "ranking", "protocol": "report"}})
    assert "protocol" not in resolve_system("ranking", manager)  # existing configurations unchanged
    config = resolve_system("paper", manager)
    assert config["protocol"] == "report"
    run = Plan(config, SimpleNamespace(plugin=SimpleNamespace(protocol_name="standard")), None, None)
    assert "follows the 'report' protocol of its source; this run uses 'standard'" in run.protocol_hint()
    same = Plan(config, SimpleNamespace(plugin=SimpleNamespace(protocol_name="report")), None, None)
    assert same.protocol_hint() is None
    with pytest.raises(BenchError, match="unknown key 'protocols'"):
        resolve_system("ranking", manager, ["protocols=report"])


def test_the_training_summary_tells_a_papers_recipe_from_a_shorter_run():
    from benchmark.config import training_summary

    manager = manager_with_systems({"recipe": {"include": "ranking", "protocol": "report", "schedule": {"epochs": 8},
                                               "pretrain": {"datasets": ["synthetic", {"name": "synthetic_large"}], "epochs": 288}}})
    assert training_summary(resolve_system("ranking", manager)) == (
        "trains 30 epochs of 16 steps on the run's dataset, without pre-training; under the dataset's protocol (-D protocol=…)")
    assert training_summary(resolve_system("recipe", manager)) == (
        "pre-trains 288 epochs on synthetic+synthetic_large (equal sampling), then trains 8 epochs of 16 steps on the "
        "run's dataset; its source used the 'report' protocol (-D protocol=report)")


def test_the_reports_recipe_pretrains_on_audiocaps_and_mined_pairs_then_fine_tunes_for_8_epochs():
    manager = get_plugin_manager()
    base, recipe = resolve_system("cider_relax", manager), resolve_system("cider_relax_report", manager)
    assert recipe["pretrain"] == {"datasets": ["audiocaps", "freesound_mined"], "epochs": 288}
    assert recipe["schedule"] == {**base["schedule"], "epochs": 8} and recipe["protocol"] == "report"
    assert {k: recipe[k] for k in ("loss", "experts", "head", "fusion", "text_encoder")} == \
        {k: base[k] for k in ("loss", "experts", "head", "fusion", "text_encoder")}


def test_expert_weights_reach_a_caption_encoder_with_pretrained_weights_and_no_other():
    manager = get_plugin_manager()
    clap = resolve_system("laion_clap", manager, expert_weights="random")
    assert clap["text_encoder"]["weights"] == "random" and all(e["weights"] == "random" for e in clap["experts"])
    assert "weights" not in resolve_system("cider_relax", manager, expert_weights="random")["text_encoder"]

import subprocess
import sys
import types
from importlib.metadata import EntryPoint

import pytest

from benchmark.errors import BenchError
from benchmark.hookspecs import hookimpl
from benchmark.plugins import PluginManager, get_plugin_manager


def plugin_module(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_builtin_plugins_come_through_entry_points_with_their_distribution():
    manager = get_plugin_manager()
    assert not manager.failures
    expected = {
        "experts": "logmel", "heads": "meanpool", "fusions": "mean", "losses": "ranking",
        "text_encoders": "sentence_transformer", "datasets": "synthetic", "systems": "ranking",
    }
    for kind, name in expected.items():
        assert manager.get(kind, name).distribution == "audio-retrieval-bench"


def test_a_plugin_that_raises_is_reported_and_the_others_keep_working():
    def broken(register):
        raise RuntimeError("boom")

    def good(register):
        register("fine", "json:dumps")

    manager = PluginManager()
    manager.add_plugin(plugin_module("bad", register_experts=broken), "bad", "bad-dist")
    manager.add_plugin(plugin_module("good", register_experts=good), "good", "good-dist")
    assert manager.registry("experts").names() == ["fine"]
    assert [str(f) for f in manager.failures] == ["plugin 'bad' from bad-dist failed: RuntimeError: boom"]


def test_same_name_from_two_distributions_is_an_error_naming_both():
    def one(register):
        register("vggish", "json:dumps")

    manager = PluginManager()
    manager.add_plugin(plugin_module("a", register_experts=one), "a", "bench-vggish")
    manager.add_plugin(plugin_module("b", register_experts=one), "b", "vggish-fork")
    manager.registry("experts")
    assert "bench-vggish" in str(manager.failures[0]) and "vggish-fork" in str(manager.failures[0])
    with pytest.raises(BenchError, match="registered twice"):
        manager.get("experts", "vggish")


def test_an_entry_point_that_fails_to_import_is_reported_by_name(monkeypatch):
    points = [EntryPoint("ghost", "no_such_plugin_module_xyz", "bench")]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: points)
    manager = PluginManager()
    manager.load_entry_points()
    assert len(manager.failures) == 1
    assert "plugin 'ghost'" in str(manager.failures[0]) and "ModuleNotFoundError" in str(manager.failures[0])


def test_unknown_kind_is_refused():
    with pytest.raises(BenchError, match="unknown plugin kind"):
        PluginManager().registry("expert")


def test_bench_list_does_not_import_torch():
    code = (
        "import sys; from benchmark.cli import main; rc = main(['list']);"
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "logmel" in done.stdout and "audio-retrieval-bench" in done.stdout

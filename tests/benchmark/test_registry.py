import pytest

from benchmark.errors import BenchError
from benchmark.registry import Entry, Registry, instantiate


def entry(name, target="json:dumps", distribution="dist-a"):
    return Entry("experts", name, target, "plugin", distribution)


def test_duplicate_names_raise_naming_both_distributions_and_stay_unusable():
    registry = Registry("experts")
    registry.add(entry("openl3", distribution="bench-openl3"))
    with pytest.raises(BenchError, match=r"bench-openl3.*other-openl3"):
        registry.add(entry("openl3", distribution="other-openl3"))
    with pytest.raises(BenchError, match="registered twice"):
        registry.get("openl3")


def test_unknown_names_suggest_close_ones():
    registry = Registry("experts")
    registry.add(entry("openl3"))
    registry.add(entry("panns"))
    with pytest.raises(BenchError, match=r"unknown expert 'opnl3'; did you mean 'openl3'\? Available: openl3, panns"):
        registry.get("opnl3")


def test_lazy_targets_are_imported_on_load_only():
    registry = Registry("experts")
    registry.add(entry("broken", target="no_such_module_anywhere:Thing"))
    assert registry.names() == ["broken"]  # listing imports nothing
    with pytest.raises(BenchError, match=r"expert 'broken' from dist-a \(plugin\) failed to load .*ModuleNotFoundError"):
        registry.load("broken")
    registry.add(entry("dumps"))
    import json

    assert registry.load("dumps") is json.dumps


def test_instantiate_names_unknown_options_and_lists_known_ones():
    def factory(input_dim, hidden=3):
        return (input_dim, hidden)

    assert instantiate(factory, {"hidden": 5}, "head 'x'", "system 'head'", input_dim=2) == (2, 5)
    with pytest.raises(BenchError, match=r"head 'x' has no option 'hiden' \(system 'head'\); options: hidden"):
        instantiate(factory, {"hiden": 5}, "head 'x'", "system 'head'", input_dim=2)


def test_a_factory_whose_signature_cannot_be_read_takes_no_options():
    from benchmark.registry import check_options

    class Opaque:
        """A factory inspect cannot read (as some builtins and extension types)."""

        @property
        def __signature__(self):
            raise ValueError("no signature")

        def __call__(self, **options):
            return options

    check_options(Opaque(), {}, "expert 'opaque'", "system 'experts'")
    with pytest.raises(BenchError, match=r"expert 'opaque' has no option 'size' \(system 'experts'\); options: \(none\)"):
        check_options(Opaque(), {"size": 3}, "expert 'opaque'", "system 'experts'")

"""Errors users read: plugins are named by the harness, not by themselves."""

import pytest

from benchmark.errors import BenchError, naming
from benchmark.io import WriteFailed
from benchmark.registry import instantiate, label


def test_naming_starts_a_plugins_error_with_its_kind_and_name_once():
    with pytest.raises(BenchError) as caught, naming("dataset 'demo'"):
        raise BenchError("max_missing must be a share from 0 up to 1, got 2")
    assert str(caught.value) == "dataset 'demo': max_missing must be a share from 0 up to 1, got 2"
    with pytest.raises(BenchError) as caught, naming("dataset 'demo'"), naming("dataset 'demo'"):
        raise BenchError("dataset 'demo' needs -D path=DIR")  # already named: left alone
    assert str(caught.value) == "dataset 'demo' needs -D path=DIR"


def test_a_named_error_keeps_its_type():
    with pytest.raises(WriteFailed) as caught, naming("loss 'ranking'"):
        raise WriteFailed("/full/disk/x.npy", OSError(28, "No space left on device"))
    assert str(caught.value).startswith("loss 'ranking': cannot write /full/disk/x.npy")


def test_other_exceptions_pass_unchanged():
    with pytest.raises(KeyError, match="'x'"), naming("expert 'demo'"):
        raise KeyError("x")


def test_a_factorys_own_error_is_named_after_the_plugin():
    def factory(temperature: float = 0.07) -> None:
        raise BenchError(f"temperature must be positive, got {temperature}")

    with pytest.raises(BenchError, match=r"^loss 'demo': temperature must be positive, got -1$"):
        instantiate(factory, {"temperature": -1}, label("losses", "demo"), "--set loss.temperature")

"""Weight files: fetched into the weights directory (or from a mirror), clear when they cannot be, and
loaded without running pickled code. How a download is verified and resumed: test_download.py."""

from __future__ import annotations

import hashlib

import pytest

from benchmark.errors import BenchError
from benchmark.weights import WeightFile, fetch_weights, load_checkpoint
from tests.httpserver import RangeHandler, serve

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    (root / "model.pth").write_bytes(PAYLOAD)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    with serve(root) as url:
        yield url


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_download_is_verified_then_reused_without_a_second_request(server, tmp_path):
    file = WeightFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD))
    path = fetch_weights(file)
    assert path == tmp_path / "weights" / "model.pth" and path.read_bytes() == PAYLOAD
    assert (tmp_path / "weights" / "model.pth.verified").is_file()
    assert fetch_weights(file) == path and RangeHandler.requests == ["/model.pth"]


def test_a_mirror_replaces_the_official_host(server, monkeypatch):
    monkeypatch.setenv("BENCH_WEIGHTS_MIRROR", server)
    file = WeightFile("model.pth", "https://example.invalid/files/model.pth", sha256=sha(PAYLOAD))
    assert fetch_weights(file).read_bytes() == PAYLOAD


def test_an_unreachable_host_says_where_to_put_the_file(server, tmp_path):
    file = WeightFile("absent.pth", f"{server}/absent.pth", sha256=sha(PAYLOAD))
    with pytest.raises(BenchError) as error:
        fetch_weights(file)
    message = str(error.value)
    assert "could not download absent.pth" in message and str(tmp_path / "weights" / "absent.pth") in message
    assert "--expert-weights random" in message and "\n" not in message


def test_offline_nothing_is_requested(server, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(BenchError, match="needs the weights file model.pth, which is not in"):
        fetch_weights(WeightFile("model.pth", f"{server}/model.pth"))
    assert RangeHandler.requests == []


def test_checkpoints_with_numpy_arrays_load_safely(tmp_path):
    import numpy as np
    import torch

    path = tmp_path / "pca.pth"
    torch.save({"pca_means": np.arange(3.0), "count": np.int64(7)}, path)
    loaded = load_checkpoint(path)
    assert loaded["pca_means"].tolist() == [0.0, 1.0, 2.0] and int(loaded["count"]) == 7


def test_zip_checkpoints_are_memory_mapped_and_legacy_ones_still_load(tmp_path, monkeypatch):
    import torch

    state = {"w": torch.arange(6.0).reshape(2, 3)}
    torch.save(state, tmp_path / "new.pt")
    torch.save(state, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    calls, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda path, **kw: calls.append((path.name, kw["mmap"])) or load(path, **kw))
    assert torch.equal(load_checkpoint(tmp_path / "new.pt")["w"], state["w"])
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["w"], state["w"])
    assert calls == [("new.pt", True), ("old.pt", False)]  # a multi-GB file is read as its tensors are used


class Payload:
    """A class a malicious or foreign checkpoint would make torch.load import."""


def test_a_checkpoint_holding_pickled_objects_is_refused_in_one_line_without_torchs_unsafe_advice(tmp_path):
    import torch

    path = tmp_path / "model.pth"
    torch.save({"weights": torch.zeros(2), "extra": Payload()}, path)
    with pytest.raises(BenchError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert f"cannot load weights file {path} (it holds a pickled tests.benchmark.test_weights.Payload" in message
    assert "\n" not in message and "weights_only" not in message and "\x1b" not in message
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(BenchError, match="it is truncated, corrupt or not a PyTorch checkpoint"):
        load_checkpoint(path)


class Shell:
    """A payload that would run a command when unpickled (its module is one torch blocks)."""

    def __reduce__(self):
        import os

        return (os.system, ("echo this must never run",))


def test_a_checkpoint_that_would_run_code_is_named_as_such_never_with_advice_to_load_it_unsafely(tmp_path):
    import torch

    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(2), "run": Shell()}, path)
    with pytest.raises(BenchError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "it holds a pickled posix.system, and bench loads only tensors and plain data, never code" in message
    assert "weights_only" not in message and "truncated" not in message and "Re-running" not in message


def test_a_weights_option_is_recorded_as_the_seed_the_published_checksums_or_the_files_digest(tmp_path):
    from benchmark.weights import RANDOM_SEED, weights_identity

    files = {"model": WeightFile("model.pth", "https://example.org/model.pth", sha256="ab" * 32)}
    path = tmp_path / "mine.pth"
    path.write_bytes(PAYLOAD)
    assert weights_identity("random", files) == {"random": RANDOM_SEED}
    assert weights_identity("pretrained", files) == {"model": ["model.pth", "sha256 " + "ab" * 32]}
    assert weights_identity(str(path), files) == {"file": sha(PAYLOAD)}


def test_a_network_is_built_under_the_fixed_seed_whatever_the_callers_random_state(tmp_path):
    import torch

    from benchmark.weights import build_network

    loaded = []
    files = {"model": WeightFile("model.pth", "https://example.org/model.pth", sha256="ab" * 32)}
    builds = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        builds.append(build_network("random", files, lambda: torch.nn.Linear(4, 3), lambda *_: loaded.append(_)))
        after = torch.rand(1)
        torch.manual_seed(seed)
        assert torch.equal(after, torch.rand(1))  # the caller's random stream is left as it was
    assert torch.equal(builds[0].weight, builds[1].weight) and loaded == []
    path = tmp_path / "mine.pth"
    path.write_bytes(PAYLOAD)
    network = build_network(str(path), files, lambda: torch.nn.Linear(4, 3), lambda net, paths: loaded.append(paths))
    assert isinstance(network, torch.nn.Linear) and loaded == [{"model": path}]


def test_a_missing_weights_file_fails_before_the_network_is_built(tmp_path):
    from benchmark.weights import build_network

    built = []
    with pytest.raises(BenchError, match=r"weights file .*absent.pth does not exist"):
        build_network(str(tmp_path / "absent.pth"), {"model": WeightFile("m.pth", "https://example.org/m.pth")},
                      lambda: built.append(1), lambda *_: None)
    assert built == []

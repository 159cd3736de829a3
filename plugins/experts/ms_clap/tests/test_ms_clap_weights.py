"""The 2022 checkpoint: the model it belongs to (196.3 M parameters), strict loading under the
checkpoint's key names, and the download (verified, refused when wrong, named when offline).

A checkpoint with real random weights is 785 MB; the tests that only need its key names and
shapes use a "hollow" one, each tensor a broadcast of one number, a few kilobytes on disk."""

import hashlib

import numpy as np
import pytest
import torch

from bench_ms_clap import text_encoder
from bench_ms_clap.checkpoint import CHECKPOINT
from bench_ms_clap.expert import MSClapExpert
from bench_ms_clap.network import MSClap
from bench_ms_clap.text_encoder import MSClapText

from benchmark.api import BenchError
from benchmark.testing import noise, serve_directory

CAPTIONS = ["a dog barks twice", "rain on a tin roof while thunder rumbles"]


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    """Weights go to a directory of the test's own; nothing is downloaded unless a test serves it."""
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.delenv("BENCH_WEIGHTS_MIRROR", raising=False)


@pytest.fixture(scope="module")
def source() -> MSClap:
    """The whole model, with weights of a seed the ``random`` option does not use."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        return MSClap().eval().requires_grad_(False)


@pytest.fixture(scope="module")
def saved(source, tmp_path_factory):
    """``source`` saved as msclap's training checkpoint: a ``model`` entry beside the optimiser,
    keys under DistributedDataParallel's ``module.``, and the ``position_ids`` buffer older
    transformers saved."""
    state = {f"module.{key}": value for key, value in source.state_dict().items()}
    state["module.caption_encoder.base.embeddings.position_ids"] = torch.arange(512)[None]
    path = tmp_path_factory.mktemp("checkpoint") / "CLAP_weights_2022.pth"
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]}, "epoch": 44}, path)
    yield path
    path.unlink()  # 785 MB: gone once this module's tests are done


def hollow_state(model: MSClap, drop: tuple[str, ...] = (), add: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``model``'s key names and shapes, every tensor a broadcast 0.01 (a few bytes each)."""
    state = {key: torch.full((), 0.01).expand(value.shape) for key, value in model.state_dict().items() if key not in drop}
    state.update({key: torch.zeros(3) for key in add})
    return state


def test_the_whole_model_has_msclaps_196_3_million_parameters(source):
    count = {name: sum(p.numel() for p in part.parameters()) for name, part in source.named_children()}
    assert count == {"audio_encoder": 84_984_847, "caption_encoder": 111_319_296}
    assert sum(p.numel() for p in source.parameters()) == 196_304_144  # and the logit scale
    assert len(source.state_dict()) == 292
    assert sum(p.numel() for p in MSClapExpert(weights="random").network.parameters()) == count["audio_encoder"]


def test_both_towers_load_from_the_checkpoint_and_give_the_source_models_embeddings(source, saved):
    clips = [noise(1.5, 44100), noise(6.0, 44100, seed=1)]
    ours = MSClapExpert(weights=str(saved), window_batch=4).embed(clips)
    with torch.inference_mode():
        theirs = source.audio_encoder(torch.from_numpy(np.stack([np.tile(clips[0], 4)[:220500], clips[1][:220500],
                                                                 clips[1][-220500:]])))
    np.testing.assert_allclose(np.concatenate(ours), theirs.numpy(), rtol=1e-4, atol=1e-5)
    encoder = MSClapText(weights=str(saved))
    with torch.inference_mode():
        tokens = encoder.tokenize(CAPTIONS)
        expected = source.caption_encoder(tokens["input_ids"], tokens["token_type_ids"], tokens["attention_mask"])
        torch.testing.assert_close(encoder(CAPTIONS), expected)


def test_a_missing_key_is_one_line_naming_it(source, tmp_path):
    path = tmp_path / "cut.pth"
    torch.save({"model": hollow_state(source, drop=("audio_encoder.projection.linear2.weight",))}, path)
    with pytest.raises(BenchError) as caught:
        MSClapExpert(weights=str(path)).network
    message = str(caught.value)
    assert "missing: audio_encoder.projection.linear2.weight" in message and str(path) in message and "\n" not in message
    MSClapText(weights=str(path)).load()  # the caption encoder needs nothing the file lacks


def test_a_key_of_no_ms_clap_model_is_refused_and_legacy_buffers_are_not(source, tmp_path):
    path = tmp_path / "foreign.pth"
    torch.save({"model": hollow_state(source, add=("text_branch.embeddings.word_embeddings.weight",))}, path)
    with pytest.raises(BenchError, match=r"holds keys that no MS-CLAP 2022 model has \(text_branch\.embeddings"):
        MSClapText(weights=str(path)).load()
    legacy = tmp_path / "legacy.pth"
    torch.save({"model": hollow_state(source, add=("caption_encoder.base.embeddings.token_type_ids",))}, legacy)
    tower = MSClapText(weights=str(legacy)).load()
    assert torch.all(tower.caption_encoder.projection.linear1.weight == 0.01)


def test_a_file_without_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(BenchError, match=r"holds no state dict \(expected a 'model' entry"):
        MSClapExpert(weights=str(path)).network


@pytest.fixture
def mirror(source, tmp_path, monkeypatch):
    """A hollow checkpoint published under the real file's name on a local server, set as
    the weights mirror; yields the served file's SHA-256 and the paths the server was asked for."""
    served = tmp_path / "served"
    served.mkdir()
    torch.save({"model": hollow_state(source)}, served / CHECKPOINT.name)
    monkeypatch.delenv("BENCH_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # tox sets it; this test downloads from 127.0.0.1 only
    with serve_directory(served) as requests:
        monkeypatch.setenv("BENCH_WEIGHTS_MIRROR", requests.url)
        yield hashlib.sha256((served / CHECKPOINT.name).read_bytes()).hexdigest(), requests


def test_the_checkpoint_is_downloaded_once_verified_and_shared_by_both_towers(mirror, tmp_path, monkeypatch):
    sha256, requests = mirror
    monkeypatch.setattr(MSClapExpert, "files", {"model": type(CHECKPOINT)(CHECKPOINT.name, CHECKPOINT.url, sha256=sha256)})
    monkeypatch.setattr(text_encoder, "FILES", MSClapExpert.files)
    (frames,) = MSClapExpert(weights="pretrained", window_batch=1).embed([noise(1.0, 44100)])
    assert frames.shape == (1, 1024)
    assert (tmp_path / "weights" / CHECKPOINT.name).is_file() and requests == [f"/{CHECKPOINT.name}"]
    tower = MSClapText(weights="pretrained").load()
    assert torch.all(tower.caption_encoder.base.pooler.dense.bias == 0.01)
    assert requests == [f"/{CHECKPOINT.name}"]  # the verified copy is reused


def test_a_download_that_fails_the_published_checksum_is_refused_and_not_kept(mirror, tmp_path):
    with pytest.raises(BenchError) as caught:
        MSClapExpert(weights="pretrained").network
    message = str(caught.value)
    assert f"download of {CHECKPOINT.name}" in message and "failed verification and was deleted" in message
    assert f"fails its checksum (expected sha256 {CHECKPOINT.sha256}" in message and "\n" not in message
    assert not [p.name for p in (tmp_path / "weights").iterdir() if CHECKPOINT.name in p.name and not p.name.endswith(".lock")]


@pytest.mark.parametrize("side", ["expert", "text"])
def test_offline_without_the_file_one_line_names_it_and_where_it_goes(side, tmp_path):
    build = (lambda: MSClapExpert().network) if side == "expert" else (lambda: MSClapText().load())
    with pytest.raises(BenchError) as caught:
        build()
    message = str(caught.value)
    assert "needs the weights file CLAP_weights_2022.pth, which is not in" in message
    assert str(tmp_path / "weights") in message and "\n" not in message

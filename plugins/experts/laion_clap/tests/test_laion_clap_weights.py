"""LAION-CLAP's architecture matches the published checkpoint's: parameter counts, strict
loading of a state dict laid out as 630k-audioset-best.pt, refusal of other files, and
downloads (from a local server) verified against their checksums."""

import hashlib

import numpy as np
import pytest
import torch

from bench_laion_clap import expert as expert_module
from bench_laion_clap.clap import Clap, load_clap
from bench_laion_clap.expert import LaionClap
from bench_laion_clap.files import CHECKPOINT
from bench_laion_clap.text import LaionClapText
from laion_clap_stand_ins import published_layout, write_vocabulary

from benchmark.errors import BenchError
from benchmark.testing import noise, serve_directory

RATE = 48000


@pytest.fixture(scope="module")
def full():
    """The whole model (both towers and the training-only parts), seeded apart from the experts' seed."""
    torch.manual_seed(1)
    return Clap().eval()


@pytest.fixture(scope="module")
def checkpoint(full, tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "630k-audioset-best.pt"
    torch.save(published_layout(full.state_dict()), path)
    yield path
    path.unlink()  # 630 MB: gone once this module's tests are done


@pytest.fixture(autouse=True)
def weights_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.delenv("BENCH_WEIGHTS_MIRROR", raising=False)
    return tmp_path / "weights"


def count(model, *prefixes):
    return sum(p.numel() for name, p in model.named_parameters() if name.startswith(prefixes))


def test_the_parameter_counts_are_the_packages(full):
    # As measured on laion_clap 1.1.7's CLAP_Module(enable_fusion=False): 158,334,169 in all.
    assert count(full, "") == 158_334_169
    assert count(full, "audio_branch.") == 31_325_143  # HTSAT-tiny, frozen STFT and mel filters included
    assert count(full, "text_branch.") == 124_645_632  # RoBERTa-base with its pooler
    assert count(full, "audio_projection.") == count(full, "text_projection.") == 656_384
    assert count(full, "audio_transform.", "text_transform.", "logit_scale") == 1_050_626


def test_a_checkpoint_in_the_published_layout_loads_strictly_into_the_whole_model(full, checkpoint):
    fresh = Clap()
    load_clap(fresh, checkpoint)
    theirs = full.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in fresh.state_dict().items())


def test_the_expert_loads_the_audio_side_of_the_checkpoint_by_path(full, checkpoint):
    expert = LaionClap(weights=str(checkpoint), precision="float32")
    clips = [noise(2.0, RATE, seed=1), noise(10.0, RATE, seed=2)]
    frames = expert.embed(clips)
    windows = np.stack([np.tile(clips[0], 5), clips[1]])
    windows = (np.clip(windows, -1, 1) * 32767.0).astype(np.int16) / 32767.0
    with torch.no_grad():
        expected = full.embed_audio(torch.from_numpy(windows.astype(np.float32))).numpy()
    np.testing.assert_allclose(np.concatenate(frames), expected, atol=1e-5)
    assert expert.settings()["weights"]["file"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def test_the_caption_encoder_loads_the_text_side_of_the_checkpoint_by_path(full, checkpoint, weights_dir):
    write_vocabulary(weights_dir)
    encoder = LaionClapText(weights=str(checkpoint))
    with torch.no_grad():
        ours = encoder(["a dog barks", "rain"])
        batch = encoder.tokens(["a dog barks", "rain"])
        expected = full.embed_text(batch.input_ids, batch.attention_mask)
    torch.testing.assert_close(ours, expected)


def save(state, path):
    torch.save({"state_dict": state}, path)
    return path


def test_a_checkpoint_missing_part_of_the_audio_tower_is_refused_naming_the_keys(tmp_path):
    path = save({"module.audio_branch.bn0.weight": torch.ones(64)}, tmp_path / "part.pt")
    with pytest.raises(BenchError, match=r"weights file .*part.pt does not fit Clap \(missing: audio_branch"):
        load_clap(Clap(audio=True, text=False), path)


def test_a_fusion_checkpoint_is_refused_by_name(tmp_path):
    path = save({"module.audio_branch.patch_embed.fusion_model.local_att.0.weight": torch.ones(1)}, tmp_path / "f.pt")
    with pytest.raises(BenchError, match="is a fusion checkpoint .*only the non-fusion checkpoints"):
        load_clap(Clap(audio=True, text=False), path)


def test_keys_from_another_model_are_refused(tmp_path):
    path = save({"module.visual.conv1.weight": torch.ones(1)}, tmp_path / "clip.pt")
    with pytest.raises(BenchError, match=r"does not fit LAION-CLAP \(unexpected: visual.conv1.weight\)"):
        load_clap(Clap(audio=True, text=False), path)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(BenchError, match="holds no state dict"):
        load_clap(Clap(audio=True, text=False), listed)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A local server holding an audio-only checkpoint under the published name, and a
    roberta-base-sized tokenizer; yields (base URL, audio model, checkpoint sha256)."""
    root = tmp_path_factory.mktemp("served")
    torch.manual_seed(2)
    audio = Clap(audio=True, text=False).eval()
    path = root / CHECKPOINT.name
    torch.save(published_layout(audio.state_dict()), path)
    write_vocabulary(root)
    with serve_directory(root) as served:
        yield served.url, audio, hashlib.sha256(path.read_bytes()).hexdigest()
    path.unlink()


def online(monkeypatch, url):
    monkeypatch.delenv("BENCH_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("BENCH_WEIGHTS_MIRROR", url)


def test_the_checkpoint_is_downloaded_verified_and_used(served, weights_dir, monkeypatch):
    url, audio, sha = served
    online(monkeypatch, url)
    file = type(CHECKPOINT)(CHECKPOINT.name, CHECKPOINT.url, sha256=sha)  # the stand-in's checksum
    monkeypatch.setattr(expert_module.LaionClap, "files", {"model": file})
    clip = noise(1.0, RATE)
    (frames,) = LaionClap(precision="float32").embed([clip])
    assert (weights_dir / CHECKPOINT.name).is_file() and (weights_dir / f"{CHECKPOINT.name}.verified").is_file()
    window = np.tile((np.clip(clip, -1, 1) * 32767.0).astype(np.int16) / 32767.0, 10).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(frames, audio.embed_audio(torch.from_numpy(window)[None]).numpy(), atol=1e-5)


def test_a_download_that_fails_the_published_checksum_is_refused_and_deleted(served, weights_dir, monkeypatch):
    online(monkeypatch, served[0])
    with pytest.raises(BenchError) as error:
        LaionClap().embed([noise(1.0, RATE)])
    message = str(error.value)
    assert "630k-audioset-best.pt" in message and "fails its checksum" in message and "8053c977" in message
    assert "\n" not in message and not (weights_dir / CHECKPOINT.name).exists()


def test_offline_the_missing_checkpoint_is_named_with_its_url_and_place(weights_dir):
    with pytest.raises(BenchError) as error:
        LaionClap().embed([noise(1.0, RATE)])
    message = str(error.value)
    assert "needs the weights file 630k-audioset-best.pt" in message and str(weights_dir) in message
    assert "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-best.pt" in message
    assert "\n" not in message


def test_the_tokenizer_files_are_downloaded_and_their_checksum_recorded(served, weights_dir, monkeypatch):
    online(monkeypatch, served[0])
    encoder = LaionClapText(weights="random", tokenizer="roberta")
    assert encoder(["a bell rings"]).shape == (1, 512)
    for name in ("roberta-base-vocab.json", "roberta-base-merges.txt"):
        assert (weights_dir / name).is_file() and "sha256" in (weights_dir / f"{name}.verified").read_text()

"""Extraction throughput of each installed pretrained expert (an expert plugin whose class
sets ``pretrained = True``, found through the plugin manager) and, for the four of the
reference system, of its library's own per-file path, side by side.

    pytest benchmarks/test_expert_throughput.py --benchmark-enable --benchmark-group-by=group

Input: three Clotho-like files (44.1 kHz mono WAV of 15, 20 and 25 s), read from disk by
both sides. Throughput is seconds of audio per second of wall time (``extra_info``), on
the CPU with torch's default two threads. Both sides use the same (random, seeded)
weights, and each benchmark checks that they give the same frames: to float rounding for
VGGSound (same audio path), to resampling error for the others (the libraries resample
with resampy or soxr, bench with SciPy's polyphase filter; the tests compare the
networks on audio at their own rate, where no resampling happens).

The library side:
- OpenL3: ``torchopenl3.get_audio_embedding`` on ``soundfile.read`` audio (what
  ``torchopenl3.process_audio_file`` does), hop 0.5 s, centred;
- PANNs: ``librosa.load(path, sr=16000)`` then CNN14's forward (what
  ``panns_inference.AudioTagging.inference`` runs), with the time pooling removed;
- VGGSound: the official test script's front end (SciPy spectrogram) and the ResNet in eager
  mode, one file at a time (the script's 10 s tile-and-crop left out, so outputs compare);
- VGGish: ``torchvggish.wavfile_to_examples`` and the model's forward, with torchvggish's
  PCA post-processing.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from benchmark.audio import load_audio

SECONDS = (15.0, 20.0, 25.0)
RATE = 44100
OURS: dict[tuple[str, str], list[np.ndarray]] = {}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from benchmark.testing import clotho_like_files

    return clotho_like_files(tmp_path_factory.mktemp("clotho-like"), SECONDS, RATE)


def pretrained_experts() -> dict[str, type]:
    """Every installed expert whose class has pretrained weights, by name."""
    from benchmark.plugins import get_plugin_manager

    found = {}
    for entry in get_plugin_manager().registry("experts"):
        target = entry.load()
        if getattr(target, "pretrained", False):
            found[entry.name] = target
    return found


EXPERTS = pretrained_experts()


def ours(expert, paths):
    return expert.embed([load_audio(p, expert.sample_rate) for p in paths])


def openl3_library(expert, path):
    import torchopenl3

    audio, rate = soundfile.read(path)
    emb, _ = torchopenl3.get_audio_embedding(audio, rate, model=expert.network, hop_size=0.5, center=True, verbose=False)
    return emb[0].numpy()


def panns_library(expert, path):
    import librosa

    audio, _ = librosa.load(path, sr=16000, mono=True)
    return expert.forward_frames(expert.network, torch.from_numpy(audio)[None])[0].numpy()


def vggsound_library(expert, path):
    from bench_vggsound.expert import spectrogram

    audio = load_audio(path, 16000)
    spec = torch.from_numpy(spectrogram(audio))[None, None]
    return expert.network.features(spec).mean(dim=2)[0].T.numpy()


def vggish_library(expert, path):
    import torchvggish

    network = expert.network
    raw = network.vgg(torchvggish.wavfile_to_examples(str(path)))
    pca = torch.mm(network.pca_eigen_vectors, raw.t() - network.pca_means.reshape(-1, 1)).t()
    return torch.round((torch.clamp(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).numpy()


#: Each library's own per-file path, for the experts that have one here.
LIBRARIES = {"openl3": openl3_library, "panns": panns_library, "vggsound": vggsound_library, "vggish": vggish_library}


def library(name, expert, paths):
    with torch.no_grad():
        return [LIBRARIES[name](expert, path) for path in paths]


def record(benchmark):
    benchmark.extra_info["audio_seconds"] = sum(SECONDS)
    benchmark.extra_info["audio_seconds_per_second"] = sum(SECONDS) / benchmark.stats.stats.mean


@pytest.mark.parametrize("precision", ["float32", "auto"])
@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_ours(benchmark, files, name, precision):
    """float32 (compared with the library below) and ``auto`` (bfloat16 where it pays)."""
    benchmark.group = f"expert-{name}"
    expert = EXPERTS[name](weights="random", precision=precision)
    benchmark.extra_info["precision"] = expert.arithmetic
    ours(expert, files[:1])  # build, trace and warm up outside the timing
    OURS[name, precision] = benchmark.pedantic(ours, args=(expert, files), rounds=2, iterations=1)
    record(benchmark)


@pytest.mark.parametrize("name", sorted(set(LIBRARIES) & set(EXPERTS)))
def test_library(benchmark, files, name):
    benchmark.group = f"expert-{name}"
    expert = EXPERTS[name](weights="random")  # expert.network: the library's own module, eager
    library(name, expert, files[:1])
    theirs = benchmark.pedantic(library, args=(name, expert, files), rounds=2, iterations=1)
    record(benchmark)
    for a, b in zip(OURS[name, "float32"], theirs):
        assert a.shape == b.shape
        if name == "vggsound":
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        else:  # different resamplers: the same frames to within resampling error
            cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
            assert cosine.min() > 0.99

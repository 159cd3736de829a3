"""Audio as datasets deliver it (any rate, any channel count, broken files) reaches the experts right."""

import numpy as np
import pytest
import soundfile

from benchmark.errors import BenchError
from benchmark.data import Split
from benchmark.features import expert_features
from benchmark.testing import shared_expert


def split_of(files):
    return Split(name="evaluation", audio_paths=tuple(files), captions=(("a sound",),) * len(files))


@pytest.fixture(scope="module")
def raw_vggish():
    """VGGish before PCA and 8-bit quantisation, which would hide small differences."""
    from bench_vggish.expert import VGGish

    return VGGish(weights="random", postprocess=False)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_any_rate_and_channel_count_is_resampled_and_mixed_down(raw_vggish, tmp_path, rate, channels):
    expert = raw_vggish
    t = np.arange(int(2.5 * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / f"clip-{rate}-{channels}.wav"
    soundfile.write(path, np.stack([tone] * channels, axis=1), rate, subtype="PCM_24")
    frames = expert_features("vggish", expert, "test", split_of([path]), tmp_path / "cache")[0]
    assert frames.shape == (2, 128)  # 2.5 s at 16 kHz: two 0.96 s patches, whatever the file's rate
    reference = expert.embed([(0.3 * np.sin(2 * np.pi * 440 * np.arange(40000) / 16000)).astype(np.float32)])[0]
    # The same tone to resampling error; a louder mix-down (a sum, not a mean) would move them 10x more.
    assert np.abs(frames - reference).mean() < 2e-5


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"\x00" * 100])
def test_a_corrupt_file_is_named(tmp_path, content):
    from bench_panns.expert import PANNs

    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(BenchError, match="broken.wav"):
        expert_features("panns", shared_expert(PANNs), "test", split_of([path]), tmp_path / "cache")

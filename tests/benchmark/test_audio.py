import numpy as np
import pytest
import soundfile

from benchmark.audio import load_audio
from benchmark.errors import BenchError


def test_multichannel_is_mixed_down_and_resampled(tmp_path):
    path = tmp_path / "stereo.wav"
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    soundfile.write(path, stereo, 44100)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 16000
    assert np.abs(audio).max() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEnot really audio", b"\x00" * 100])
def test_corrupt_or_empty_files_are_named(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(BenchError, match="broken.wav"):
        load_audio(path, 16000)


def test_zero_length_audio_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0), 16000)
    with pytest.raises(BenchError, match="empty.wav is empty"):
        load_audio(path, 16000)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(BenchError, match="nothere.wav"):
        load_audio(tmp_path / "nothere.wav", 16000)


def test_a_crop_decodes_only_the_first_seconds(tmp_path):
    path = tmp_path / "long.flac"
    rate = 44100
    t = np.arange(3 * rate) / rate
    soundfile.write(path, np.stack([np.sin(2 * np.pi * 330 * t), 0.5 * (t > 1.5)], axis=1) * 0.4, rate)  # a step after 1.5 s
    whole, cropped = load_audio(path, 16000), load_audio(path, 16000, max_seconds=1.0)
    assert len(whole) == 48000 and len(cropped) == 16000
    assert np.allclose(cropped[:15000], whole[:15000], atol=1e-3)  # the same samples, up to the filter's edge
    assert len(load_audio(path, 16000, max_seconds=10.0)) == 48000  # a shorter clip is read whole

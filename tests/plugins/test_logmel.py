import numpy as np

from bench_plugins.experts.logmel import LogMel, mel_filterbank


def test_frame_rate_dimension_and_short_input():
    expert = LogMel(sample_rate=16000, n_mels=64, frame_rate=10.0)
    ten_seconds, tiny = np.random.default_rng(0).standard_normal((2, 160000)).astype(np.float32)
    out = expert.embed([ten_seconds, tiny[:100]])
    assert out[0].shape[1] == 64 and abs(out[0].shape[0] - 100) <= 1  # 10 frames/s
    assert out[1].shape == (1, 64)  # shorter than one window: one frame
    assert all(np.isfinite(o).all() for o in out)


def test_pitch_moves_energy_to_higher_mel_bands():
    expert = LogMel()
    t = np.arange(16000) / 16000
    low, high = expert.embed([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 3000 * t)])
    assert low.mean(0).argmax() < high.mean(0).argmax()


def test_filterbank_covers_the_band_and_settings_key_the_cache():
    filters = mel_filterbank(16000, 512, 64, 50.0, 8000.0)
    assert filters.shape == (257, 64) and (filters.max(axis=0) > 0).all()
    assert LogMel(n_mels=64).settings() != LogMel(n_mels=32).settings()

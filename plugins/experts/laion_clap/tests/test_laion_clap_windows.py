"""How LAION-CLAP's windows are cut: the package's int16 round trip and repeat padding, and
consecutive 10 s windows with the last one aligned to the clip's end."""

import numpy as np
import pytest

from bench_laion_clap.windows import quantise, repeat_pad, window_starts, windows

from benchmark.errors import BenchError


def test_quantise_is_the_packages_int16_round_trip():
    x = np.array([-2.0, -1.0, -0.5, -1e-5, 0.0, 3e-5, 0.25, 0.99999, 1.0, 7.0], np.float32)
    package = ((np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16) / 32767.0).astype(np.float32)
    np.testing.assert_array_equal(quantise(x), package)
    assert quantise(x).dtype == np.float32 and quantise(x)[3] == 0.0  # truncated towards zero


def test_a_short_clip_is_repeated_whole_then_zero_padded():
    out = repeat_pad(np.array([1.0, 2.0, 3.0], np.float32), 10)
    np.testing.assert_array_equal(out, [1, 2, 3, 1, 2, 3, 1, 2, 3, 0])
    np.testing.assert_array_equal(repeat_pad(np.array([5.0], np.float32), 4), [5, 5, 5, 5])


@pytest.mark.parametrize(
    "samples, starts",
    [(1, [0]), (10, [0]), (11, [0, 1]), (20, [0, 10]), (35, [0, 10, 20, 25]), (600, list(range(0, 600, 10)))],
)
def test_windows_start_every_window_and_the_last_ends_with_the_clip(samples, starts):
    assert window_starts(samples, 10) == starts


def test_every_window_is_full_length_and_a_long_clips_windows_are_its_own_audio():
    clip = (np.arange(35, dtype=np.float32) - 17) / 40
    cut = windows(clip, 10)
    assert cut.shape == (4, 10)
    np.testing.assert_array_equal(cut[-1], quantise(clip)[-10:])
    np.testing.assert_array_equal(windows(clip[:4], 10)[0], repeat_pad(quantise(clip[:4]), 10))


def test_an_empty_clip_is_a_one_line_error():
    with pytest.raises(BenchError, match=r"empty waveform \(0 samples\)"):
        windows(np.zeros(0, np.float32), 10)

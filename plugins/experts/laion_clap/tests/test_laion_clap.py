"""The LAION-CLAP expert keeps the expert contract: one 512-d unit frame per 10 s window,
the same frames every time, long and short clips by its documented rules, bad input refused."""

import numpy as np
import pytest
import torch

from bench_laion_clap.expert import LaionClap
from bench_laion_clap.htsat import WINDOW

from benchmark.errors import BenchError
from benchmark.testing import PretrainedExpertContract, noise, shared_expert

RATE = 48000


class TestLaionClap(PretrainedExpertContract):
    expert_class = LaionClap
    # HTSAT-tiny (31,325,143 with the frozen STFT and mel filters) + the audio projection (656,384).
    parameters, frame_rate, dim = 31_981_527, 0.1, 512  # 20 s: two windows
    bfloat16_on_auto = False


def test_frames_are_unit_vectors_in_the_joint_space():
    (frames,) = shared_expert(LaionClap).embed([noise(3.0, RATE)])
    assert frames.shape == (1, 512)
    np.testing.assert_allclose(np.linalg.norm(frames, axis=1), 1.0, rtol=1e-5)


def test_a_35_s_clip_is_four_windows_the_last_aligned_to_its_end_and_the_same_twice():
    expert = shared_expert(LaionClap)
    clip = noise(35.0, RATE, seed=3)
    first, second = expert.embed([clip]), expert.embed([clip])
    assert first[0].shape == (4, 512)
    np.testing.assert_array_equal(first[0], second[0])
    # Windows at 0, 10 and 20 s, and the last one over the final 10 s (25-35 s).
    pieces = [clip[0:WINDOW], clip[WINDOW : 2 * WINDOW], clip[2 * WINDOW : 3 * WINDOW], clip[-WINDOW:]]
    np.testing.assert_array_equal(np.concatenate(expert.embed(pieces)), first[0])


def test_a_clip_gives_the_same_frames_whatever_it_is_extracted_with():
    expert = shared_expert(LaionClap)
    clip = noise(2.0, RATE, seed=5)
    alone = expert.embed([clip])[0]
    among = expert.embed([noise(12.0, RATE, seed=6), clip, noise(0.5, RATE, seed=7)])[1]
    np.testing.assert_array_equal(alone, among)


def test_a_ten_minute_file_is_sixty_windows_embedded_a_few_at_a_time():
    expert = LaionClap(weights="random", window_batch=4)
    shapes = []

    def runner(windows: torch.Tensor) -> torch.Tensor:  # stands in for the network: frame = first sample
        shapes.append(tuple(windows.shape))
        return windows[:, :1].repeat(1, 512)

    expert._runner = runner
    clip = np.repeat(np.arange(60, dtype=np.float32) / 100, WINDOW)  # window i holds the value i / 100
    (frames,) = expert.embed([clip])
    assert frames.shape == (60, 512)
    assert set(shapes) == {(4, WINDOW)} and len(shapes) == 15  # memory bounded by window_batch windows
    expected = np.trunc(np.arange(60) / 100 * 32767) / 32767  # after the int16 round trip
    np.testing.assert_allclose(frames[:, 0], expected, atol=1 / 32767)


def test_a_last_short_group_is_filled_with_silent_windows_so_every_pass_has_one_shape():
    expert = LaionClap(weights="random", window_batch=4)
    shapes = []
    expert._runner = lambda windows: shapes.append(tuple(windows.shape)) or windows[:, :512]
    frames = expert.embed([noise(1.0, RATE), noise(15.0, RATE)])
    assert [f.shape[0] for f in frames] == [1, 2] and shapes == [(4, WINDOW)]


def test_clipping_audio_is_clipped_to_full_scale_as_the_package_does():
    expert = shared_expert(LaionClap)
    loud = 3.0 * noise(2.0, RATE, seed=8)
    np.testing.assert_array_equal(expert.embed([loud])[0], expert.embed([np.clip(loud, -1.0, 1.0)])[0])


def test_a_single_sample_and_silence_give_finite_unit_frames():
    frames = shared_expert(LaionClap).embed([np.full(1, 0.5, np.float32), np.zeros(RATE // 100, np.float32)])
    for f in frames:
        assert f.shape == (1, 512) and np.isfinite(f).all()
        np.testing.assert_allclose(np.linalg.norm(f), 1.0, rtol=1e-5)


def test_an_empty_waveform_is_refused_in_one_line_before_any_window_is_embedded():
    expert = LaionClap(weights="random")
    expert._runner = lambda windows: pytest.fail("nothing may be embedded")
    with pytest.raises(BenchError, match="empty waveform") as error:
        expert.embed([noise(1.0, RATE), np.zeros(0, np.float32)])
    assert "\n" not in str(error.value)


def test_no_clips_give_no_frames():
    assert LaionClap(weights="random").embed([]) == []


def test_window_batch_must_be_positive():
    with pytest.raises(BenchError, match="window_batch must be at least 1, got 0"):
        LaionClap(weights="random", window_batch=0)


def test_settings_name_the_checkpoint_the_window_and_the_long_clip_rule():
    settings = LaionClap().settings()
    assert settings["weights"] == {
        "model": ["630k-audioset-best.pt", "sha256 8053c9775516af2f4902e1e8281e356cc1bf7a85e8b761908170767b77c3f037"]
    }
    assert settings["window_samples"] == 480000 and settings["sample_rate"] == 48000 and settings["dim"] == 512
    assert "last one aligned to the clip's end" in settings["long_clips"]
    assert "repeatpad" in settings["short_clips"] and "int16" in settings["quantise"]

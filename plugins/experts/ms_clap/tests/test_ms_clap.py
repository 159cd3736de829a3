"""The ms_clap expert keeps the expert contract; its 5 s windows are deterministic, whatever
the clip's length and whatever it is batched with."""

import numpy as np
import pytest
import torch

from bench_ms_clap.expert import MSClapExpert
from bench_ms_clap.windows import windows

from benchmark.testing import PretrainedExpertContract, noise, shared_expert

RATE, WINDOW = 44100, 220500
OPTIONS = {"window_batch": 4}  # the tests' clips are few: smaller batches of windows waste less


class TestMSClap(PretrainedExpertContract):
    expert_class = MSClapExpert
    options = OPTIONS
    parameters, frame_rate, dim = 84_984_847, 0.2, 1024  # CNN14 at 44.1 kHz + audio projection; 5 s windows
    bfloat16_on_auto = False


def expert() -> MSClapExpert:
    return shared_expert(MSClapExpert, **OPTIONS)


def test_settings_record_the_checkpoint_the_window_and_the_long_clip_rule():
    settings = MSClapExpert(weights="pretrained").settings()
    assert settings["weights"] == {"model": ["CLAP_weights_2022.pth",
                                             "sha256 5b917c47fec10547b65cf1d9096e194896fa1c2d6180536c8524289721a4c5b8"]}
    assert settings["window_samples"] == WINDOW and settings["sample_rate"] == RATE and settings["precision"] == "float32"
    assert "aligned to the clip's end" in settings["windows"]["long"] and "repeated" in settings["windows"]["short"]
    assert expert().settings()["weights"] == {"random": 0}


def test_a_short_clip_is_repeated_to_5_s_and_trimmed_as_msclap_pads():
    clip = noise(1.2, RATE)
    (window,) = windows(clip, WINDOW)
    assert np.array_equal(window, np.concatenate([clip] * 5)[:WINDOW])
    five = noise(5.0, RATE)
    assert np.array_equal(windows(five, WINDOW), five[None])  # exactly 5 s: the clip itself


def test_a_long_clip_is_covered_by_consecutive_5_s_windows_the_last_ending_with_it():
    clip = noise(12.0, RATE)
    parts = windows(clip, WINDOW)
    assert parts.shape == (3, WINDOW)
    for part, start in zip(parts, (0.0, 5.0, 7.0)):
        assert np.array_equal(part, clip[int(start * RATE) : int(start * RATE) + WINDOW])
    ten = noise(10.0, RATE)
    assert np.array_equal(windows(ten, WINDOW), ten.reshape(2, WINDOW))  # a multiple of 5 s: no overlap
    assert len(windows(noise(10.01, RATE), WINDOW)) == 3


def test_a_12_s_clip_gives_3_frames_the_same_twice_and_whatever_it_is_batched_with():
    model, clip = expert(), noise(12.0, RATE, seed=3)
    (first,) = model.embed([clip])
    (second,) = model.embed([clip])
    assert first.shape == (3, 1024)
    np.testing.assert_array_equal(first, second)
    _, among_others, _ = model.embed([noise(2.0, RATE, seed=4), clip, noise(7.0, RATE, seed=5)])
    np.testing.assert_array_equal(first, among_others)


def test_a_short_clip_embeds_as_its_repetition_to_5_s():
    model, clip = expert(), noise(1.2, RATE, seed=6)
    (short,) = model.embed([clip])
    (repeated,) = model.embed([np.concatenate([clip] * 5)[:WINDOW]])
    np.testing.assert_array_equal(short, repeated)


def test_an_empty_clip_embeds_as_silence_and_every_frame_is_finite():
    model = expert()
    empty, silence, one_sample = model.embed([np.zeros(0, np.float32), np.zeros(3 * RATE, np.float32), np.ones(1, np.float32)])
    np.testing.assert_array_equal(empty, silence)
    assert empty.shape == one_sample.shape == (1, 1024) and np.isfinite(one_sample).all()


def test_a_ten_minute_file_gives_120_frames_computed_a_fixed_batch_of_windows_at_a_time():
    """The network's part is stood in for (120 windows through CNN14 take minutes): what is
    checked is how the windows reach it and how its outputs come back."""
    model = MSClapExpert(weights="random", window_batch=8)
    seen = []

    def runner(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape))
        return batch[:, :1024] * 2  # each frame: twice its window's first 1024 samples

    clip = noise(600.0, RATE, seed=7)
    short = noise(2.0, RATE, seed=8)
    long_frames, short_frames = model.frames(runner, [clip, short])
    assert long_frames.shape == (120, 1024) and short_frames.shape == (1, 1024)
    assert seen == [(8, WINDOW)] * 16  # 121 windows in 16 batches of exactly 8, the last filled with silence
    np.testing.assert_array_equal(long_frames, 2 * clip.reshape(120, WINDOW)[:, :1024])
    np.testing.assert_array_equal(short_frames[0], 2 * np.concatenate([short] * 3)[:1024])


def test_a_window_batch_below_one_runs_one_window_at_a_time_and_no_clips_give_no_frames():
    assert MSClapExpert(weights="random", window_batch=0).window_batch == 1
    assert expert().embed([]) == []


@pytest.mark.parametrize("seconds", [4.99, 5.0])
def test_clips_up_to_5_s_give_one_frame(seconds):
    (frames,) = expert().embed([noise(seconds, RATE)])
    assert frames.shape == (1, 1024)

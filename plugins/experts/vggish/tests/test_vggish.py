"""VGGish keeps the expert contract with the report's Table 1 numbers; seeds and long clips."""

import numpy as np

from bench_vggish.expert import VGGish

from benchmark.testing import PretrainedExpertContract, noise, shared_expert


class TestVGGish(PretrainedExpertContract):
    expert_class = VGGish
    parameters, frame_rate, dim = 72_157_696, 1.0, 128  # report, Table 1 (frame rate on 20 s)
    bfloat16_on_auto = False
    bfloat16_options = {"postprocess": False}  # 8-bit quantised frames hide bfloat16's rounding


def test_random_weights_give_the_same_frames_in_a_new_instance():
    clip = [noise(2.0, 16000)]
    np.testing.assert_array_equal(VGGish(weights="random").embed(clip)[0], shared_expert(VGGish).embed(clip)[0])


def test_an_eleven_minute_clip_is_embedded():
    """Memory stays bounded: VGGish batches patches."""
    expert = shared_expert(VGGish)
    (frames,) = expert.embed([noise(660.0, expert.sample_rate)])
    assert frames.shape == (687, 128)

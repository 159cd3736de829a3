"""VGGSound keeps the expert contract with the report's Table 1 sizes; its segments.

Its frame rate is 3.15, not the report's 2.3: see this package's README."""

from bench_vggsound.expert import VGGSound

from benchmark.testing import PretrainedExpertContract, noise


class TestVGGSound(PretrainedExpertContract):
    expert_class = VGGSound
    parameters, frame_rate, dim = 11_328_757, 3.15, 512  # report, Table 1 (frame rate on 20 s)
    bfloat16_on_auto = False


def test_long_clips_are_cut_into_segments_whose_frames_follow_each_other():
    vggsound = VGGSound(weights="random", segment_frames=320)
    (frames,) = vggsound.embed([noise(7.0, 16000)])
    assert frames.shape[0] == 10 + 10 + 2

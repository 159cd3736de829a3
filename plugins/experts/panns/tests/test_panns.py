"""PANNs keeps the expert contract with the report's Table 1 numbers; its settings and segments."""

from bench_panns.expert import FRAME, PANNs

from benchmark.testing import PretrainedExpertContract, noise, shared_expert


class TestPANNs(PretrainedExpertContract):
    expert_class = PANNs
    parameters, frame_rate, dim = 81_033_231, 3.1, 2048  # report, Table 1 (frame rate on 20 s)
    bfloat16_on_auto = True


def test_settings_identify_the_weights():
    assert shared_expert(PANNs).settings()["weights"] == {"random": 0}
    pretrained = PANNs().settings()["weights"]
    assert pretrained == {"model": ["Cnn14_16k_mAP=0.438.pth", "md5 362fc5ff18f1d6ad2f6d464b45893f2c"]}


def test_long_clips_are_cut_into_segments_whose_frames_follow_each_other():
    panns = PANNs(weights="random", segment_seconds=2.56)  # 8 frames per segment
    (frames,) = panns.embed([noise(7.0, 16000)])
    # 2.56 + 2.56 + 1.88 s: 257, 257 and 189 STFT frames, each pooled by 32 (floored)
    assert panns.segment == 8 * FRAME and frames.shape[0] == 8 + 8 + 5

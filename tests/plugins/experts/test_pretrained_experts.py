"""What every pretrained expert promises: the report's sizes, its frame rate, any input length."""

import numpy as np
import pytest
import torch

from benchmark.api import Expert
from benchmark.pretrained import parameter_count
from tests.plugins.experts.conftest import CLASSES, noise

# Report, Table 1: parameters, frames per second, dimension. Frame rates are measured on
# 20 s of audio (Clotho clips are 15-30 s); see each plugin's docstring for VGGSound's.
TABLE_1 = {
    "openl3": (4_687_042, 2.0, 512),
    "panns": (81_033_231, 3.1, 2048),
    "vggsound": (11_328_757, 3.15, 512),
    "vggish": (72_157_696, 1.0, 128),
}


@pytest.mark.parametrize("name", TABLE_1)
def test_parameter_counts_match_the_report_exactly(experts, name):
    assert parameter_count(experts[name].network) == TABLE_1[name][0]


@pytest.mark.parametrize("name", TABLE_1)
def test_frame_rate_and_dimension_on_real_length_audio(experts, name):
    expert = experts[name]
    (frames,) = expert.embed([noise(20.0, expert.sample_rate)])
    _, rate, dim = TABLE_1[name]
    assert frames.shape[1] == dim == expert.dim and frames.dtype == np.float32
    assert frames.shape[0] / 20.0 == pytest.approx(rate, abs=0.06)
    assert isinstance(expert, Expert) and expert.pretrained


@pytest.mark.parametrize("name", TABLE_1)
def test_the_traced_network_gives_the_eager_networks_outputs(experts, name):
    expert = experts[name]
    clips = [noise(s, expert.sample_rate, seed=i) for i, s in enumerate((0.01, 0.7, 3.3, 7.01))]
    traced = expert.embed(clips)
    with torch.inference_mode():
        eager = expert.frames(expert.inference_module(expert.network), clips)
    for a, b in zip(traced, eager):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4 * max(1.0, float(np.abs(b).max())))


@pytest.mark.parametrize("name", TABLE_1)
def test_short_silent_and_loud_clips_give_finite_frames(experts, name):
    expert = experts[name]
    rate = expert.sample_rate
    clips = [np.zeros(1, np.float32), np.zeros(rate // 10, np.float32), np.zeros(2 * rate, np.float32), 4.0 * noise(1.5, rate)]
    for frames in expert.embed(clips):
        assert frames.shape[0] >= 1 and frames.shape[1] == expert.dim and np.isfinite(frames).all()


def test_settings_identify_the_weights(experts):
    from bench_panns.expert import PANNs

    assert experts["panns"].settings()["weights"] == {"random": 0}
    pretrained = PANNs().settings()["weights"]
    assert pretrained == {"model": ["Cnn14_16k_mAP=0.438.pth", "md5 362fc5ff18f1d6ad2f6d464b45893f2c"]}


def test_random_weights_are_seeded(experts):
    from bench_vggish.expert import VGGish

    clip = [noise(2.0, 16000)]
    np.testing.assert_array_equal(VGGish(weights="random").embed(clip)[0], experts["vggish"].embed(clip)[0])


def test_long_clips_are_cut_into_segments_whose_frames_follow_each_other():
    from bench_panns.expert import FRAME, PANNs
    from bench_vggsound.expert import VGGSound

    panns = PANNs(weights="random", segment_seconds=2.56)  # 8 frames per segment
    (frames,) = panns.embed([noise(7.0, 16000)])
    # 2.56 + 2.56 + 1.88 s: 257, 257 and 189 STFT frames, each pooled by 32 (floored)
    assert panns.segment == 8 * FRAME and frames.shape[0] == 8 + 8 + 5
    vggsound = VGGSound(weights="random", segment_frames=320)
    (frames,) = vggsound.embed([noise(7.0, 16000)])
    assert frames.shape[0] == 10 + 10 + 2


def test_an_eleven_minute_clip_is_embedded(experts):
    """Memory stays bounded: VGGish batches patches, the others cut segments or window batches."""
    expert = experts["vggish"]
    (frames,) = expert.embed([noise(660.0, expert.sample_rate)])
    assert frames.shape == (687, 128)


@pytest.mark.parametrize("name", ["openl3", "panns"])
def test_bfloat16_frames_are_close_to_float32_and_recorded_in_the_settings(experts, name):
    reference = experts[name]
    expert = CLASSES[name](weights="random", precision="bfloat16")
    clips = [noise(s, expert.sample_rate, seed=i) for i, s in enumerate((0.4, 1.7))]
    for ours, theirs in zip(expert.embed(clips), reference.embed(clips)):
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cosine.min() > 0.99 and not np.array_equal(ours, theirs)
    assert expert.settings()["precision"] == "bfloat16" and reference.settings()["precision"] == "float32"


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it_and_the_expert_gains(monkeypatch):
    import benchmark.pretrained

    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(benchmark.pretrained, "native_bfloat16", lambda: native)
        assert CLASSES["openl3"](weights="random").settings()["precision"] == expected
        assert CLASSES["vggish"](weights="random").settings()["precision"] == "float32"  # already fast
        assert CLASSES["openl3"](weights="random", device="cuda").settings()["precision"] == "float32"


def test_an_unknown_precision_is_refused_naming_the_choices():
    from benchmark.errors import BenchError

    with pytest.raises(BenchError, match="precision.*'half'.*bfloat16"):
        CLASSES["panns"](weights="random", precision="half")

"""VGGSound's frames give what the official network gives, for the same weights and audio."""

import torch

from bench_vggsound.expert import VGGSound, spectrogram

from benchmark.testing import noise, shared_expert


def test_vggsound_frames_averaged_over_time_give_the_networks_clip_logits():
    expert = shared_expert(VGGSound)
    network = expert.network
    audio = noise(10.0, 16000)
    (frames,) = expert.embed([audio])
    with torch.no_grad():
        logits = network(torch.from_numpy(spectrogram(audio))[None, None])  # the official forward pass
    torch.testing.assert_close(network.fc(torch.from_numpy(frames).mean(dim=0)), logits[0], rtol=1e-4, atol=1e-4)

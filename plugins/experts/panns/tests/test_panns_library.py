"""PANNs gives what panns-inference's Cnn14 gives, for the same weights and audio."""

import torch

from bench_panns.expert import PANNs

from benchmark.testing import noise, shared_expert


def test_panns_frames_pooled_as_cnn14_pools_them_give_panns_inference_embedding():
    expert = shared_expert(PANNs)
    network = expert.network
    audio = torch.from_numpy(noise(6.0, 16000))[None]
    with torch.no_grad():
        conv = PANNs.conv_frames(network, audio)
        pooled = torch.relu(network.fc1(conv.max(dim=1).values + conv.mean(dim=1)))
        theirs = network(audio)["embedding"]  # panns_inference's Cnn14.forward
        (ours,) = expert.embed([audio[0].numpy()])
    torch.testing.assert_close(pooled, theirs)
    torch.testing.assert_close(torch.from_numpy(ours), torch.relu(network.fc1(conv))[0], rtol=1e-4, atol=1e-5)

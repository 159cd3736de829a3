"""VGGish gives what torchvggish gives with its post-processor, for the same weights and audio."""

import numpy as np
import torch

from bench_vggish.expert import VGGish

from benchmark.testing import noise, shared_expert


def test_vggish_matches_torchvggish_with_its_postprocessor():
    import torchvggish
    from torchvggish.torchvggish import VGG, make_layers

    expert = shared_expert(VGGish)
    network = expert.network
    library = VGG(make_layers(), postprocess=False).eval()
    library.load_state_dict(network.vgg.state_dict())
    audio = noise(5.3, 16000)
    (ours,) = expert.embed([audio])
    with torch.no_grad():
        raw = library(torchvggish.waveform_to_examples(audio.astype(np.float64), 16000))
        # torchvggish.Postprocessor.postprocess, with the parameters it would load from its file
        pca = torch.mm(network.pca_eigen_vectors, raw.t() - network.pca_means.reshape(-1, 1)).t()
        theirs = torch.round((torch.clamp(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).numpy()
    np.testing.assert_array_equal(ours, theirs)

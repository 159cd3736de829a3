"""Each expert gives what the library it is built on gives, for the same weights and audio."""

import numpy as np
import torch

from tests.plugins.experts.conftest import noise


def test_openl3_matches_torchopenl3_get_audio_embedding(experts):
    import torchopenl3

    from bench_openl3.expert import OpenL3

    library_model = OpenL3(weights="random").network  # same seeded weights, library's own front end
    for seconds in (0.3, 1.0, 4.51):
        audio = noise(seconds, 48000)
        (ours,) = experts["openl3"].embed([audio])
        theirs, _ = torchopenl3.get_audio_embedding(audio, 48000, model=library_model, hop_size=0.5, center=True, verbose=False)
        np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-5)


def test_vggish_matches_torchvggish_with_its_postprocessor(experts):
    import torchvggish
    from torchvggish.torchvggish import VGG, make_layers

    network = experts["vggish"].network
    library = VGG(make_layers(), postprocess=False).eval()
    library.load_state_dict(network.vgg.state_dict())
    audio = noise(5.3, 16000)
    (ours,) = experts["vggish"].embed([audio])
    with torch.no_grad():
        raw = library(torchvggish.waveform_to_examples(audio.astype(np.float64), 16000))
        # torchvggish.Postprocessor.postprocess, with the parameters it would load from its file
        pca = torch.mm(network.pca_eigen_vectors, raw.t() - network.pca_means.reshape(-1, 1)).t()
        theirs = torch.round((torch.clamp(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_panns_frames_pooled_as_cnn14_pools_them_give_panns_inference_embedding(experts):
    from bench_panns.expert import PANNs

    network = experts["panns"].network
    audio = torch.from_numpy(noise(6.0, 16000))[None]
    with torch.no_grad():
        conv = PANNs.conv_frames(network, audio)
        pooled = torch.relu(network.fc1(conv.max(dim=1).values + conv.mean(dim=1)))
        theirs = network(audio)["embedding"]  # panns_inference's Cnn14.forward
        (ours,) = experts["panns"].embed([audio[0].numpy()])
    torch.testing.assert_close(pooled, theirs)
    torch.testing.assert_close(torch.from_numpy(ours), torch.relu(network.fc1(conv))[0], rtol=1e-4, atol=1e-5)


def test_vggsound_frames_averaged_over_time_give_the_networks_clip_logits(experts):
    from bench_vggsound.expert import spectrogram

    network = experts["vggsound"].network
    audio = noise(10.0, 16000)
    (frames,) = experts["vggsound"].embed([audio])
    with torch.no_grad():
        logits = network(torch.from_numpy(spectrogram(audio))[None, None])  # the official forward pass
    torch.testing.assert_close(network.fc(torch.from_numpy(frames).mean(dim=0)), logits[0], rtol=1e-4, atol=1e-4)

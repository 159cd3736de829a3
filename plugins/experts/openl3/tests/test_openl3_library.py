"""OpenL3 gives what torchopenl3 gives, for the same weights and audio."""

import numpy as np

from bench_openl3.expert import OpenL3

from benchmark.testing import noise, shared_expert


def test_openl3_matches_torchopenl3_get_audio_embedding():
    import torchopenl3

    library_model = OpenL3(weights="random").network  # same seeded weights, library's own front end
    for seconds in (0.3, 1.0, 4.51):
        audio = noise(seconds, 48000)
        (ours,) = shared_expert(OpenL3).embed([audio])
        theirs, _ = torchopenl3.get_audio_embedding(audio, 48000, model=library_model, hop_size=0.5, center=True, verbose=False)
        np.testing.assert_allclose(ours, theirs[0].numpy(), atol=1e-5)

import numpy as np
import pytest
import torch

from benchmark.cache import EmbeddingCache
from benchmark.model import ClipInputs


def inputs(tmp_path, name, n, value):
    store = EmbeddingCache(tmp_path, "experts", "toy", {"part": name}).get_or_compute(
        [f"{name}{i}" for i in range(n)], lambda idx: [np.full((i % 3 + 1, 2), value + i, np.float32) for i in idx]
    )
    return ClipInputs([store], [(f"{name} {i}",) for i in range(n)], None)


def test_concatenated_inputs_index_through_the_parts_with_equal_frequency(tmp_path):
    small, large = inputs(tmp_path, "small", 2, 100), inputs(tmp_path, "large", 6, 200)
    both = ClipInputs.concatenate([small, large], equal_frequency=True)
    assert len(both) == 8 and both.captions[2] == ("large 0",)
    np.testing.assert_array_equal(both.audio[0][3], np.full((2, 2), 201))
    frames, lengths = both.audio[0].batch([1, 7])
    assert lengths.tolist() == [2, 3] and frames[1, 0, 0] == 205
    weights = both.sampling_weights
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:2].sum() == pytest.approx(0.5) and weights[2:].sum() == pytest.approx(0.5)  # half the draws each
    audio, _ = both.audio_batch([0, 7], torch.device("cpu"))[0]
    assert audio.shape == (2, 3, 2)

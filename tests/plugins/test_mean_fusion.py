"""The report's fusion: the mean of the raw expert vectors, normalised only in the cosine."""

import torch
import torch.nn.functional as F

from bench_plugins.fusions.mean import MeanFusion


def test_a_confident_expert_outweighs_a_hesitant_one():
    # Expert 1 is sure (long vector along x), expert 2 hesitant (short vector along y):
    # their mean points mostly along x, so the caption along x scores far higher.
    confident = torch.tensor([[4.0, 0.0]])
    hesitant = torch.tensor([[0.0, 0.5]])
    captions = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    similarity = MeanFusion(2, 2)([confident, hesitant], captions)
    fused = F.normalize(torch.tensor([2.0, 0.25]), dim=0)
    assert torch.allclose(similarity, fused @ captions.T)
    assert similarity[0, 0] > 0.99 and similarity[0, 1] < 0.13  # normalising first would give 0.707 each


def test_similarities_are_cosines_between_fused_audio_and_captions():
    torch.manual_seed(0)
    experts = [torch.randn(5, 8) * scale for scale in (0.1, 1.0, 10.0)]
    text = torch.randn(7, 8) * 3.0
    similarity = MeanFusion(3, 8)(experts, text)
    mean = (experts[0] + experts[1] + experts[2]) / 3
    expected = torch.stack([torch.stack([F.cosine_similarity(a, t, dim=0) for t in text]) for a in mean])
    assert similarity.shape == (5, 7) and torch.allclose(similarity, expected, atol=1e-6)

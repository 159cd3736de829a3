"""Order-free pooling heads respect sequence lengths."""

from __future__ import annotations

import torch

from bench_plugins.heads.pooling import AvgMaxPoolHead, masked_max, masked_mean


def test_padding_is_ignored_by_both_pools():
    frames = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [100.0, 100.0]], [[-1.0, 5.0], [0.0, 0.0], [0.0, 0.0]]])
    lengths = torch.tensor([2, 1])
    assert torch.equal(masked_mean(frames, lengths), torch.tensor([[2.0, -1.0], [-1.0, 5.0]]))
    assert torch.equal(masked_max(frames, lengths), torch.tensor([[3.0, 0.0], [-1.0, 5.0]]))
    assert torch.equal(masked_max(frames, torch.tensor([0, 1]))[0], torch.zeros(2))  # empty -> zeros


def test_avgmax_head_maps_to_the_shared_dimension_and_ignores_padding():
    torch.manual_seed(0)
    head = AvgMaxPoolHead(input_dim=4, output_dim=6).eval()
    frames = torch.randn(2, 5, 4)
    out = head(frames, torch.tensor([3, 5]))
    padded = frames.clone()
    padded[0, 3:] = 1e3
    assert out.shape == (2, 6) and torch.allclose(head(padded, torch.tensor([3, 5])), out)

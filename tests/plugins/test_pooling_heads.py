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


def test_meanpool_head_pools_then_maps_with_its_documented_defaults():
    from bench_plugins.heads.pooling import MeanPoolHead

    head = MeanPoolHead(512, 384)  # hidden 256, dropout 0.1
    assert sum(p.numel() for p in head.parameters()) == 2 * 512 + 513 * 256 + 257 * 384
    assert [m.p for m in head.modules() if isinstance(m, torch.nn.Dropout)] == [0.1]
    torch.manual_seed(0)
    head = MeanPoolHead(4, 6).eval()
    frames = torch.randn(2, 5, 4)
    out = head(frames, torch.tensor([3, 5]))
    assert torch.allclose(out, head.mlp(masked_mean(frames, torch.tensor([3, 5]))))
    padded = frames.clone()
    padded[0, 3:] = 1e3
    assert out.shape == (2, 6) and torch.allclose(head(padded, torch.tensor([3, 5])), out)


def test_the_average_head_is_the_masked_mean_learns_nothing_and_refuses_a_dimension_change():
    import pytest

    from bench_plugins.heads.pooling import AverageHead
    from benchmark.api import BenchError

    head = AverageHead(4, 4)
    frames = torch.randn(2, 3, 4)
    frames[0, 2] = 1e6  # padding of the first clip, which has two frames
    pooled = head(frames, torch.tensor([2, 3]))
    assert torch.allclose(pooled[0], frames[0, :2].mean(0)) and torch.allclose(pooled[1], frames[1].mean(0))
    assert not list(head.parameters())
    with pytest.raises(BenchError, match=r"expert's dimension \(512\) must equal the caption encoder's \(384\)"):
        AverageHead(512, 384)

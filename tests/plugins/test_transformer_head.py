import torch

from bench_plugins.heads.transformer import TransformerHead


def test_parameter_counts_are_the_documented_ones():
    head = TransformerHead(512, 384)
    assert head.encoder_parameters() == 1_316_864  # the report's "approx. 1.3M"
    assert sum(p.numel() for p in head.parameters()) == 1_316_864 + 513 * 256 + 257 * 384
    assert sum(p.numel() for p in TransformerHead(2048, 384).parameters()) == 1_316_864 + 2049 * 256 + 98_688


def test_padding_frames_do_not_change_the_output():
    torch.manual_seed(0)
    head = TransformerHead(8, 16).eval()
    frames = torch.randn(2, 6, 8)
    lengths = torch.tensor([4, 6])
    out = head(frames, lengths)
    frames[0, 4:] = 100.0  # garbage in the padding of clip 0
    assert torch.allclose(head(frames, lengths), out, atol=1e-5)
    assert torch.allclose(head(frames[:1, :4], lengths[:1]), out[:1], atol=1e-5)


def test_frame_order_matters_and_long_inputs_are_pooled():
    torch.manual_seed(0)
    head = TransformerHead(8, 16, max_positions=32).eval()
    frames = torch.randn(1, 10, 8)
    reversed_frames = frames.flip(1)
    assert not torch.allclose(head(frames, torch.tensor([10])), head(reversed_frames, torch.tensor([10])))
    long = head(torch.randn(3, 100, 8), torch.tensor([100, 50, 1]))
    assert long.shape == (3, 16) and torch.isfinite(long).all()

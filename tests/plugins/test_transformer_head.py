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


def reference_forward(head, frames, lengths):
    """The head as its definition reads, built from torch's own post-norm encoder layer
    (BART: learned positions added to the projected frames, LayerNorm, GELU feed-forward,
    residual then norm), sharing the head's weights."""
    from torch import nn

    from bench_plugins.heads.pooling import masked_mean

    steps = frames.shape[1]
    x = head.layernorm_embedding(head.project(frames) + head.positions.weight[:steps])
    padding = torch.arange(steps)[None, :] >= lengths[:, None]
    for layer in head.layers:
        torch_layer = nn.TransformerEncoderLayer(
            layer.fc1.in_features, layer.self_attn.num_heads, layer.fc1.out_features, dropout=0.0,
            activation="gelu", batch_first=True, norm_first=False,
        ).eval()
        torch_layer.self_attn = layer.self_attn
        torch_layer.linear1, torch_layer.linear2 = layer.fc1, layer.fc2
        torch_layer.norm1, torch_layer.norm2 = layer.self_attn_layer_norm, layer.final_layer_norm
        x = torch_layer(x, src_key_padding_mask=padding)
    return head.out(masked_mean(x, lengths))


def test_the_head_is_a_post_norm_bart_encoder_with_learned_positions():
    torch.manual_seed(0)
    head = TransformerHead(8, 16, dim=32, heads=4, ffn_dim=64).eval()
    frames, lengths = torch.randn(3, 7, 8), torch.tensor([7, 4, 1])
    with torch.no_grad():
        assert torch.allclose(head(frames, lengths), reference_forward(head, frames, lengths), atol=1e-5)


def test_inputs_longer_than_the_positions_are_pooled_with_their_lengths_scaled():
    torch.manual_seed(0)
    head = TransformerHead(8, 16, max_positions=32).eval()
    frames = torch.randn(3, 100, 8)
    pooled = torch.nn.functional.adaptive_avg_pool1d(frames.transpose(1, 2), 32).transpose(1, 2)
    # 100 frames become 32: 50 valid frames become ceil(16.0) = 16, 1 stays 1.
    out = head(frames, torch.tensor([100, 50, 1]))
    assert torch.allclose(out, head(pooled, torch.tensor([32, 16, 1])), atol=1e-5)


def test_with_dropout_zero_training_computes_what_evaluation_does():
    torch.manual_seed(0)
    head = TransformerHead(8, 16, dropout=0.0)  # attention has no dropout of its own
    frames, lengths = torch.randn(2, 6, 8), torch.tensor([6, 3])
    assert torch.allclose(head.train()(frames, lengths), head.eval()(frames, lengths), atol=1e-6)

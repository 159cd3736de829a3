"""The report's temporal head: Linear → 2-layer BART-style transformer encoder → masked mean → Linear.

BART's encoder, at the report's internal dimension of 256: learned absolute position
embeddings added to the projected frames, a LayerNorm on the embeddings, then post-norm
layers (self-attention, residual, LayerNorm; GELU feed-forward, residual, LayerNorm), with
BART's dropout settings: 0.1 on the embeddings and on each sublayer's output, none on
the attention weights or inside the feed-forward block (BART's attention_dropout and
activation_dropout are 0). The feed-forward width (512) and the 1024 learned positions are our reading
of "two layers, internal dimension 256, about 1.3M parameters": the encoder then has
exactly 1,316,864 parameters (positions 262,144 + embedding LayerNorm 512 + 2 layers x
527,104), to which each expert adds its input projection ((dim + 1) x 256) and the output
projection to the caption space (257 x 384 = 98,688).

Sequences longer than ``max_positions`` frames are average-pooled in time down to
``max_positions`` (a 10-minute clip at 2 frames/s is 1,200 frames).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench_plugins.heads.pooling import masked_mean


class EncoderLayer(nn.Module):
    """One post-norm BART encoder layer."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        attended, _ = self.self_attn(x, x, x, key_padding_mask=padding, need_weights=False)
        x = self.self_attn_layer_norm(x + self.dropout(attended))
        hidden = self.fc2(F.gelu(self.fc1(x)))
        return self.final_layer_norm(x + self.dropout(hidden))


class TransformerHead(nn.Module):
    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        dim: int = 256,
        layers: int = 2,
        heads: int = 4,
        ffn_dim: int = 512,
        max_positions: int = 1024,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.project = nn.Linear(input_dim, dim)
        self.positions = nn.Embedding(max_positions, dim)
        self.layernorm_embedding = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, output_dim)

    def encoder_parameters(self) -> int:
        """Parameters of the transformer encoder proper (the report's "about 1.3M")."""
        parts = (self.positions, self.layernorm_embedding, self.layers)
        return sum(p.numel() for part in parts for p in part.parameters())

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = frames.shape[1]
        if steps > self.max_positions:
            frames = F.adaptive_avg_pool1d(frames.transpose(1, 2), self.max_positions).transpose(1, 2)
            lengths = torch.ceil(lengths * self.max_positions / steps).long().clamp(1, self.max_positions)
            steps = self.max_positions
        positions = torch.arange(steps, device=frames.device)
        x = self.project(frames) + self.positions(positions)[None]
        x = self.dropout(self.layernorm_embedding(x))
        padding = positions[None, :] >= lengths[:, None]
        for layer in self.layers:
            x = layer(x, padding)
        return self.out(masked_mean(x, lengths))

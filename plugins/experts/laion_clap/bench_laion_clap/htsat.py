"""HTSAT-tiny, LAION-CLAP's audio tower: a log-mel front end and a hierarchical Swin
transformer whose average-pooled output is the 768-d audio embedding.

Written for inference to follow ``laion_clap.clap_module.htsat`` (laion-clap 1.1.7, the
``HTSAT-tiny`` configuration) layer for layer, with the same parameter and buffer names, so
the published checkpoints load into it strictly:

- front end (torchlibrosa, frozen): STFT with n_fft 1024, hop 480, a 1024-sample periodic
  Hann window, centred with reflect padding; power spectrogram to 64 mel bands from 50 Hz
  to 14 kHz, ``10 log10(max(x, 1e-10))`` (ref 1, no top_db); then BatchNorm over the bands;
- the 1001 frames of a 10 s window are stretched bicubically to 1024 and folded into a
  256 x 256 picture (four 256-frame strips of 64 bands, stacked along the band axis);
- Swin: 4 x 4 patches (stride 4) to 96 channels, four stages of depth 2, 2, 6, 2 with 4,
  8, 16 and 32 heads, windows of 8 x 8 patches, every other block shifted by 4, a patch
  merging between stages; LayerNorm; the mean over the 8 x 8 tokens is the embedding.

The package's classification head (``tscam_conv``, ``head``: 527 AudioSet classes) takes no
part in the embedding; its parameters are kept because the checkpoint holds them.
Dropout, stochastic depth and SpecAugment act only in training and are left out: they
hold no parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 48000
#: Samples in one input window (10 s at 48 kHz): what the network sees at once.
WINDOW = 480000
MEL_BINS = 64
#: The folded spectrogram is a SPEC_SIZE x SPEC_SIZE picture: 4 strips of 256 frames.
SPEC_SIZE = 256
FREQ_RATIO = SPEC_SIZE // MEL_BINS
PATCH = 4
EMBED_DIM = 96
DEPTHS = (2, 2, 6, 2)
HEADS = (4, 8, 16, 32)
WINDOW_SIZE = 8
CLASSES = 527
#: Width of the last stage, the audio embedding's dimension.
FEATURES = EMBED_DIM * 2 ** (len(DEPTHS) - 1)


def partition(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * windows, size * size, C)``: non-overlapping square windows."""
    b, h, w, c = x.shape
    x = x.view(b, h // size, size, w // size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size * size, c)


def unpartition(windows: torch.Tensor, size: int, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`partition`: ``(B * windows, size * size, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // size, w // size, size, size, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(size: int) -> torch.Tensor:
    """For each pair of positions in a ``size x size`` window, the row of the relative
    position bias table that holds their offset: ``(size², size²)``."""
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (size - 1)
    return offsets[..., 0] * (2 * size - 1) + offsets[..., 1]


def shift_mask(resolution: int, size: int, shift: int) -> torch.Tensor:
    """Additive attention mask of a shifted window block, ``(windows, size², size²)``: -100
    between positions that the cyclic shift brought together from different regions."""
    regions = torch.zeros(1, resolution, resolution, 1)
    bands = (slice(0, -size), slice(-size, -shift), slice(-shift, None))
    label = 0
    for rows in bands:
        for cols in bands:
            regions[:, rows, cols, :] = label
            label += 1
    labels = partition(regions, size).squeeze(-1)
    different = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(different.shape).masked_fill(different, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned bias per relative offset."""

    def __init__(self, dim: int, heads: int, size: int) -> None:
        super().__init__()
        self.heads = heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(size))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x``: ``(B * windows, N, C)``; ``mask``: ``(windows, N, N)`` or None."""
        n, tokens, dim = x.shape
        q, k, v = self.qkv(x).view(n, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(tokens, tokens, self.heads).permute(2, 0, 1)  # (heads, N, N)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.unsqueeze(0))
        else:
            windows = mask.shape[0]
            grouped = [t.reshape(-1, windows, self.heads, tokens, dim // self.heads) for t in (q, k, v)]
            out = F.scaled_dot_product_attention(*grouped, attn_mask=bias.unsqueeze(0) + mask.unsqueeze(1))
            out = out.reshape(n, self.heads, tokens, dim // self.heads)
        return self.proj(out.transpose(1, 2).reshape(n, tokens, dim))


class Mlp(nn.Module):
    """The feed-forward part of a block: Linear, GELU, Linear (4x wide)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm window attention and MLP, both residual; ``shift`` rolls the token grid first
    (and back after), so that neighbouring windows exchange information."""

    def __init__(self, dim: int, resolution: int, heads: int, shift: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.size = min(WINDOW_SIZE, resolution)
        self.shift = shift if resolution > WINDOW_SIZE else 0  # one window covers the grid: nothing to shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, self.size)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)
        self.register_buffer("attn_mask", shift_mask(resolution, self.size, self.shift) if self.shift else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, tokens, c = x.shape
        r, s = self.resolution, self.shift
        grid = self.norm1(x).view(b, r, r, c)
        if s:
            grid = torch.roll(grid, shifts=(-s, -s), dims=(1, 2))
        attended = unpartition(self.attn(partition(grid, self.size), self.attn_mask), self.size, r, r)
        if s:
            attended = torch.roll(attended, shifts=(s, s), dims=(1, 2))
        x = x + attended.reshape(b, tokens, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """Halve the grid: each 2 x 2 group of tokens becomes one of twice the width."""

    def __init__(self, dim: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        grid = x.view(b, self.resolution, self.resolution, c)
        parts = (grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 1::2])
        return self.reduction(self.norm(torch.cat(parts, dim=-1).view(b, -1, 4 * c)))


class Stage(nn.Module):
    """One Swin stage: blocks alternating plain and shifted windows, then a patch merging
    (all stages but the last)."""

    def __init__(self, index: int, resolution: int) -> None:
        super().__init__()
        dim = EMBED_DIM * 2**index
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, HEADS[index], shift=WINDOW_SIZE // 2 if i % 2 else 0) for i in range(DEPTHS[index])
        )
        self.downsample = PatchMerging(dim, resolution) if index < len(DEPTHS) - 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """4 x 4 patches of the folded spectrogram to 96-d tokens, layer-normalised."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(1, EMBED_DIM, kernel_size=PATCH, stride=PATCH)
        self.norm = nn.LayerNorm(EMBED_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


def fold(logmel: torch.Tensor) -> torch.Tensor:
    """``(B, 1, frames, 64)`` log-mel -> the ``(B, 1, 256, 256)`` picture the Swin reads: frames
    stretched bicubically (corners aligned) to 1024, cut into four strips of 256 frames,
    the strips stacked along the band axis."""
    target = SPEC_SIZE * FREQ_RATIO
    if logmel.shape[2] < target:
        logmel = F.interpolate(logmel, (target, logmel.shape[3]), mode="bicubic", align_corners=True)
    b = logmel.shape[0]
    x = logmel.transpose(2, 3).reshape(b, 1, MEL_BINS, FREQ_RATIO, SPEC_SIZE)
    return x.transpose(2, 3).reshape(b, 1, SPEC_SIZE, SPEC_SIZE)


class HTSATTiny(nn.Module):
    """Waveforms ``(B, 480000)`` at 48 kHz -> 768-d embeddings ``(B, 768)``."""

    def __init__(self) -> None:
        super().__init__()
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        self.spectrogram_extractor = Spectrogram(
            n_fft=1024, hop_length=480, win_length=1024, window="hann", center=True, pad_mode="reflect",
            freeze_parameters=True,
        )
        self.logmel_extractor = LogmelFilterBank(
            sr=SAMPLE_RATE, n_fft=1024, n_mels=MEL_BINS, fmin=50, fmax=14000, ref=1.0, amin=1e-10, top_db=None,
            freeze_parameters=True,
        )
        self.bn0 = nn.BatchNorm2d(MEL_BINS)
        self.patch_embed = PatchEmbed()
        grid = SPEC_SIZE // PATCH
        self.layers = nn.ModuleList(Stage(i, grid // 2**i) for i in range(len(DEPTHS)))
        self.norm = nn.LayerNorm(FEATURES)
        # The package's AudioSet classifier (token-semantic CAM): unused here, held by the checkpoint.
        freq_groups = SPEC_SIZE // 2 ** (len(DEPTHS) - 1) // PATCH // FREQ_RATIO
        self.tscam_conv = nn.Conv2d(FEATURES, CLASSES, kernel_size=(freq_groups, 3), padding=(0, 1))
        self.head = nn.Linear(CLASSES, CLASSES)
        self.apply(_initialise)

    def logmel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(B, samples)`` -> batch-normalised log-mel ``(B, 1, frames, 64)``."""
        x = self.logmel_extractor(self.spectrogram_extractor(waveforms))
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(fold(self.logmel(waveforms)))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x).mean(dim=1)


def _initialise(module: nn.Module) -> None:
    """The package's initialisation (truncated normal for Linear weights, unit LayerNorms),
    so that ``weights: random`` gives activations of a trained network's scale."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)

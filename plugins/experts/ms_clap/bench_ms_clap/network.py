"""Microsoft CLAP 2022 (Elizalde et al., ICASSP 2023) as torch modules whose parameter names
are the checkpoint's, so ``CLAP_weights_2022.pth`` loads into them strictly.

The architecture follows msclap 1.3.4 (``msclap/models/clap.py``, ``audio.py`` and
``configs/config_2022.yml``):

- audio: PANNs' CNN14 with a torchlibrosa front end at 44.1 kHz (1024-sample window and
  FFT, hop 320, 64 mel bands from 50 Hz to 14 kHz; the yml's ``n_fft: 1028`` is read by no
  code), max + mean over time, ``fc1`` and ReLU: a 2048-d vector per 5 s window;
- text: bert-base-uncased, the last hidden state of the ``[CLS]`` token (not the pooler);
- each side then goes through a :class:`Projection` to the 1024-d joint space. Nothing is
  L2-normalised here: msclap normalises only inside its similarity.

CNN14 is panns-inference's ``Cnn14``, whose parameter names and layers are msclap's
(msclap adds an ``out_emb`` argument that is 2048 here, the size panns-inference fixes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.api import BenchError


@dataclass(frozen=True)
class AudioConfig:
    """The audio tower's hyper-parameters (config_2022.yml)."""

    sample_rate: int = 44100
    window_seconds: int = 5
    window_size: int = 1024
    hop_size: int = 320
    mel_bins: int = 64
    fmin: int = 50
    fmax: int = 14000
    classes: int = 527
    embedding: int = 2048

    @property
    def window_samples(self) -> int:
        """Samples in one input window: 5 s at 44.1 kHz, 220,500."""
        return self.sample_rate * self.window_seconds


#: Dimension of the joint audio-text space.
JOINT_DIM = 1024
#: BERT's hidden size, the input of the text projection.
TEXT_WIDTH = 768
#: Tokens the text tower reads, ``[CLS]`` and ``[SEP]`` included (config_2022.yml ``text_len``).
MAX_TOKENS = 100
AUDIO = AudioConfig()


class Projection(nn.Module):
    """Into the joint space: ``LayerNorm(h + dropout(linear2(gelu(h))))`` with ``h = linear1(x)``,
    both linear maps without bias (msclap's ``Projection``)."""

    def __init__(self, d_in: int, d_out: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out, bias=False)
        self.linear2 = nn.Linear(d_out, d_out, bias=False)
        self.layer_norm = nn.LayerNorm(d_out)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x)
        return self.layer_norm(h + self.drop(self.linear2(F.gelu(h))))


def cnn14(config: AudioConfig = AUDIO) -> nn.Module:
    """panns-inference's CNN14 with the 2022 checkpoint's front end (44.1 kHz, 1024/320, 64 mels)."""
    from bench_panns.expert import panns_models  # imports panns_inference.models without its label download

    return panns_models().Cnn14(
        sample_rate=config.sample_rate, window_size=config.window_size, hop_size=config.hop_size,
        mel_bins=config.mel_bins, fmin=config.fmin, fmax=config.fmax, classes_num=config.classes,
    )


class AudioEncoder(nn.Module):
    """CNN14 (``base``) and its projection: ``[batch, 220500]`` windows to ``[batch, 1024]``."""

    def __init__(self, config: AudioConfig = AUDIO) -> None:
        super().__init__()
        self.base = cnn14(config)
        self.projection = Projection(config.embedding, JOINT_DIM)

    def embedding(self, windows: torch.Tensor) -> torch.Tensor:
        """CNN14's clip embedding of each window: conv stack, frequency mean, max + mean over
        time, ``fc1`` and ReLU (panns-inference's and msclap's ``embedding`` in eval mode)."""
        from bench_panns.expert import PANNs

        frames = PANNs.conv_frames(self.base, windows)  # (batch, time, 2048)
        pooled = frames.max(dim=1).values + frames.mean(dim=1)
        return F.relu(self.base.fc1(pooled))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.projection(self.embedding(windows))


def bert_base_uncased() -> nn.Module:
    """bert-base-uncased's architecture (with its pooler, whose weights the checkpoint holds),
    built from an explicit configuration: nothing is read from the hub."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=30522, hidden_size=TEXT_WIDTH, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2,
        layer_norm_eps=1e-12, pad_token_id=0,
    )
    return BertModel(config, add_pooling_layer=True)


class CaptionEncoder(nn.Module):
    """BERT (``base``) and its projection: token ids to ``[batch, 1024]``."""

    def __init__(self) -> None:
        super().__init__()
        self.base = bert_base_uncased()
        self.projection = Projection(TEXT_WIDTH, JOINT_DIM)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.base(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[0]
        return self.projection(hidden[:, 0, :])


#: The checkpoint's top-level names, by the tower each belongs to.
TOWERS = {"audio": "audio_encoder", "text": "caption_encoder"}


class MSClap(nn.Module):
    """The CLAP model with the towers asked for: both, and the logit scale, for the whole
    checkpoint; one for the expert (``audio``) or the caption encoder (``text``), so each
    holds only what it runs. Parameter names are the checkpoint's in every case."""

    def __init__(self, towers: tuple[str, ...] = ("audio", "text")) -> None:
        super().__init__()
        unknown = sorted(set(towers) - set(TOWERS))
        if unknown or not towers:
            raise BenchError(f"towers {list(towers)}: choose among {', '.join(TOWERS)}")
        if "audio" in towers:
            self.audio_encoder = AudioEncoder()
        if "text" in towers:
            self.caption_encoder = CaptionEncoder()
        if len(towers) == len(TOWERS):
            self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07).log())

"""OpenL3 through torchopenl3's network, with a faster but equivalent front end.

Framing follows ``torchopenl3.get_audio_embedding(center=True)``: 1 s windows at 48 kHz
every ``hop`` seconds, the first centred on t = 0 (half a window of zeros in front), the
end zero-padded to a whole hop; a clip shorter than a window gives one frame. The
network's STFT is a 2048-wide convolution per window; here it is ``torch.stft`` on the same
padded frames, which gives the same spectrogram (to float rounding) several times faster.
Windows from all clips of a batch go through the network together.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import PretrainedExpert, WeightFile

BASE_URL = "https://github.com/torchopenl3/torchopenl3-models/raw/master/"
WINDOW = 48000  # one second at 48 kHz


class FFTMelSpectrogram(torch.nn.Module):
    """kapre 0.1.4's mel spectrogram in decibels (torchopenl3's ``CustomMelSTFT``) via FFT."""

    def __init__(self, original: torch.nn.Module) -> None:
        super().__init__()
        self.n_dft, self.n_hop = original.n_dft, original.n_hop
        self.power_melgram = original.power_melgram
        in_width = original.sr
        remainder = in_width % self.n_hop
        pad = max(self.n_dft - (self.n_hop if remainder == 0 else remainder), 0)
        self.pad = (pad // 2, pad - pad // 2)
        self.register_buffer("mel_basis", original.mel_basis.clone())
        self.register_buffer("window", torch.hann_window(self.n_dft, periodic=True))
        self.to_decibel = original.amplitude_to_decibel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(x[:, 0], self.pad)
        spectrum = torch.stft(x, self.n_dft, self.n_hop, window=self.window, center=False, return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()
        mel = torch.matmul(self.mel_basis, power)
        if self.power_melgram != 2.0:
            mel = mel.sqrt().pow(self.power_melgram)
        return self.to_decibel(mel.unsqueeze(-1))


class OpenL3(PretrainedExpert):
    """OpenL3 embeddings every ``hop`` seconds (report: mel256, env, 512, hop 0.5 s)."""

    sample_rate = 48000
    auto_bfloat16 = True  # its convolutions are the whole cost: 1.6-1.9x faster on a CPU with bfloat16

    def __init__(
        self,
        weights: str = "pretrained",
        input_repr: str = "mel256",
        content_type: str = "env",
        embedding_size: int = 512,
        hop: float = 0.5,
        window_batch: int = 4,
        batch_size: int = 16,
        device: str = "cpu", precision: str = "auto",
    ) -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        self.input_repr, self.content_type = input_repr, content_type
        self.dim = int(embedding_size)
        self.hop = float(hop)
        self.window_batch = int(window_batch)
        name = f"torchopenl3_{input_repr}_{content_type}_{self.dim}.pth.tar"
        # torchopenl3 publishes no checksum: the first verified copy's SHA-256 is recorded.
        self.files = {"model": WeightFile(name, BASE_URL + name)}

    def options(self) -> dict[str, Any]:
        return {"input_repr": self.input_repr, "content_type": self.content_type, "hop": self.hop, "center": True}

    def build(self) -> torch.nn.Module:
        with warnings.catch_warnings():
            # resampy's pkg_resources deprecation notice; librosa on mel256's empty top filters
            # (part of OpenL3 as trained, not something a user can act on).
            warnings.simplefilter("ignore", UserWarning)
            from torchopenl3.models import PytorchOpenl3

            return PytorchOpenl3(content_type=self.content_type, input_repr=self.input_repr, embedding_size=self.dim)

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        if self.input_repr != "linear" and not isinstance(network.speclayer, FFTMelSpectrogram):
            network.speclayer = FFTMelSpectrogram(network.speclayer).to(self.device)
        return network

    def example(self) -> torch.Tensor:
        return torch.zeros(1, 1, WINDOW)

    def windows(self, waveform: np.ndarray) -> np.ndarray:
        """``(n, 48000)`` windows of one clip, framed as torchopenl3 frames them (a view, no copy)."""
        hop = int(self.hop * self.sample_rate)
        audio = np.concatenate([np.zeros(WINDOW // 2, np.float32), np.asarray(waveform, np.float32)])
        if len(audio) < WINDOW:
            audio = np.pad(audio, (0, WINDOW - len(audio)))
        else:
            audio = np.pad(audio, (0, -(len(audio) - WINDOW) % hop))
        n = 1 + (len(audio) - WINDOW) // hop
        return np.lib.stride_tricks.as_strided(audio, (n, WINDOW), (hop * audio.itemsize, audio.itemsize), writeable=False)

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        windows = [self.windows(w) for w in waveforms]
        index = [(clip, row) for clip, w in enumerate(windows) for row in range(len(w))]
        out = []
        for start in range(0, len(index), self.window_batch):
            batch = np.stack([windows[clip][row] for clip, row in index[start : start + self.window_batch]])
            out.append(runner(torch.from_numpy(batch).unsqueeze(1).to(self.device)).float().cpu())
        return [part.numpy() for part in torch.split(torch.cat(out), [len(w) for w in windows])]

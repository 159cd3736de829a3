"""A weight-free expert: log-mel spectrogram frames, averaged down to a modest frame rate.

It needs no download, so the whole pipeline runs before (or without) the pretrained
experts, and it is a floor that learned experts should beat.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from benchmark.api import Expert


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Triangular filters on the HTK mel scale, ``(n_fft // 2 + 1, n_mels)``, Slaney-normalised."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (fft_freqs[:, None] - lower) / (centre - lower)
    falling = (upper - fft_freqs[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= 2.0 / (upper - lower)  # equal area per filter
    return weights.astype(np.float32)


class LogMel(Expert):
    """Log-mel frames at ``frame_rate`` frames per second (short-time frames mean-pooled)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        win_ms: float = 32.0,
        hop_ms: float = 10.0,
        frame_rate: float = 10.0,
        f_min: float = 50.0,
        f_max: float | None = None,
        batch_size: int = 32,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.n_mels = int(n_mels)
        self.dim = self.n_mels
        self.win = int(round(sample_rate * win_ms / 1000))
        self.hop = int(round(sample_rate * hop_ms / 1000))
        self.n_fft = 1 << (self.win - 1).bit_length()
        self.pool = max(1, int(round(1000.0 / hop_ms / frame_rate)))
        self.f_min = float(f_min)
        self.f_max = float(f_max if f_max is not None else sample_rate / 2)
        self.batch_size = int(batch_size)
        self._filters = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min, self.f_max)
        self._window = np.hanning(self.win).astype(np.float32)

    def settings(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "n_mels": self.n_mels,
            "win": self.win,
            "hop": self.hop,
            "n_fft": self.n_fft,
            "pool": self.pool,
            "f_min": self.f_min,
            "f_max": self.f_max,
        }

    def embed(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self._embed_one(np.asarray(w, dtype=np.float32)) for w in waveforms]

    def _embed_one(self, waveform: np.ndarray) -> np.ndarray:
        # Clips shorter than one window are zero-padded to one window: one frame out.
        if len(waveform) < self.win:
            waveform = np.pad(waveform, (0, self.win - len(waveform)))
        n_frames = 1 + (len(waveform) - self.win) // self.hop
        index = np.arange(self.win)[None, :] + self.hop * np.arange(n_frames)[:, None]
        spectrum = np.abs(np.fft.rfft(waveform[index] * self._window, n=self.n_fft, axis=1)) ** 2
        logmel = np.log(spectrum.astype(np.float32) @ self._filters + 1e-6)
        # Mean-pool groups of `pool` frames; a trailing partial group is kept.
        groups = -(-n_frames // self.pool)
        padded = np.full((groups * self.pool, self.n_mels), np.nan, dtype=np.float32)
        padded[:n_frames] = logmel
        return np.nanmean(padded.reshape(groups, self.pool, self.n_mels), axis=1).astype(np.float32)

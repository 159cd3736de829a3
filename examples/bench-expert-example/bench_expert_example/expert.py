"""A deliberately small expert: four hand-made descriptors per 100 ms frame."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from benchmark.api import Expert


class SpectralStats(Expert):
    sample_rate = 16000
    dim = 4

    def __init__(self, frame_rate: float = 10.0) -> None:
        self.frame_rate = float(frame_rate)
        self.hop = int(self.sample_rate / self.frame_rate)

    def settings(self) -> dict[str, Any]:
        return {"frame_rate": self.frame_rate, "version": 1}

    def embed(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self._one(w) for w in waveforms]

    def _one(self, waveform: np.ndarray) -> np.ndarray:
        n_frames = max(1, len(waveform) // self.hop)
        frames = np.resize(waveform, n_frames * self.hop).reshape(n_frames, self.hop)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-10
        freqs = np.fft.rfftfreq(self.hop, 1.0 / self.sample_rate)
        total = power.sum(axis=1)
        centroid = (power * freqs).sum(axis=1) / total
        bandwidth = np.sqrt((power * (freqs - centroid[:, None]) ** 2).sum(axis=1) / total)
        flatness = np.exp(np.log(power).mean(axis=1)) / power.mean(axis=1)
        loudness = 10 * np.log10(total / self.hop)
        return np.stack([loudness / 10, centroid / 1000, bandwidth / 1000, flatness], axis=1).astype(np.float32)

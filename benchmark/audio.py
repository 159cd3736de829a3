"""Reading audio for the experts: decode, mix down to mono, resample."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from benchmark.errors import BenchError


def load_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Return ``path`` as a mono float32 waveform at ``sample_rate``.

    Multichannel audio is averaged; resampling is polyphase (scipy). Unreadable, corrupt
    and empty files raise a :class:`BenchError` naming the file.
    """
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise BenchError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise BenchError(f"audio file {path} is empty (0 samples)")
    waveform = data.mean(axis=1)
    if not np.isfinite(waveform).all():
        raise BenchError(f"audio file {path} contains NaN or infinite samples")
    return resample(waveform, rate, sample_rate)


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling from ``rate`` to ``target`` Hz."""
    if rate == target:
        return np.ascontiguousarray(waveform, dtype=np.float32)
    from scipy.signal import resample_poly

    common = gcd(int(rate), int(target))
    out = resample_poly(waveform, target // common, rate // common)
    return out.astype(np.float32)

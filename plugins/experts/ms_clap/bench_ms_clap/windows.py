"""How a clip of any length becomes the 5 s windows CLAP embeds, deterministically.

MS-CLAP reads exactly 5 s. msclap repeats a shorter clip until it fills 5 s and trims the
excess; this module does the same. For a longer clip msclap takes one 5 s crop at a random
offset, so the same file gives different embeddings on every call; here the clip is
covered instead by ``ceil(duration / 5 s)`` windows of 5 s, the first starting at the
clip's first sample and the last ending at its last, their starts evenly spaced (rounded to
a sample). Every window is therefore 5 s of the clip itself, as msclap's crops are, and
consecutive windows overlap by the same amount, less than 5 s (not at all when the
duration is a multiple of 5 s). A 12 s clip gives windows starting at 0, 3.5 and 7 s.

An empty waveform has nothing to repeat: it is read as 5 s of silence.
"""

from __future__ import annotations

import math

import numpy as np


def window_starts(samples: int, size: int) -> np.ndarray:
    """Start offsets of the windows of ``size`` samples covering a clip of ``samples`` (> ``size``)."""
    count = math.ceil(samples / size)
    return np.rint(np.linspace(0, samples - size, count)).astype(np.int64)


def repeat_to(audio: np.ndarray, size: int) -> np.ndarray:
    """``audio`` repeated until it has ``size`` samples, the excess trimmed (msclap's padding)."""
    if len(audio) == 0:
        return np.zeros(size, dtype=np.float32)
    return np.tile(audio, math.ceil(size / len(audio)))[:size]


def windows(waveform: np.ndarray, size: int) -> np.ndarray:
    """``(n, size)`` float32 windows of a mono waveform (see the module docstring)."""
    audio = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if len(audio) <= size:
        return repeat_to(audio, size)[None]
    return np.stack([audio[start : start + size] for start in window_starts(len(audio), size)])


#: The rule in words, recorded in the expert's settings.
RULE = {
    "short": "repeated to 5 s and trimmed, as msclap pads",
    "long": "ceil(duration / 5 s) windows of 5 s from the first to the last sample, starts evenly spaced",
    "empty": "5 s of silence",
}

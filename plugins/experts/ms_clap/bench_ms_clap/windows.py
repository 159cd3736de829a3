"""How a clip of any length becomes the 5 s windows CLAP embeds, deterministically.

MS-CLAP reads exactly 5 s. msclap repeats a shorter clip until it fills 5 s and trims the
excess; this module does the same. For a longer clip msclap takes one 5 s crop at a random
offset, so the same file gives different embeddings on every call; here the clip is
covered instead by ``ceil(duration / 5 s)`` windows of 5 s: consecutive windows starting at
0, 5, 10 s, ..., the last one aligned to the clip's end, so that it overlaps the one before
it unless the duration is a multiple of 5 s (:func:`benchmark.api.window_starts`). Every
window is 5 s of the clip itself, as msclap's crops are. A 12 s clip gives windows starting
at 0, 5 and 7 s. (The LAION-CLAP expert cuts its 10 s windows by the same rule.)

An empty waveform has nothing to repeat: it is read as 5 s of silence.
"""

from __future__ import annotations

import math

import numpy as np

from benchmark.api import window_starts


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
    "long": "ceil(duration / 5 s) consecutive windows of 5 s from 0 s, the last one aligned to the clip's end",
    "empty": "5 s of silence",
}

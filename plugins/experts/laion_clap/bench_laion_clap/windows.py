"""How a clip of any length becomes LAION-CLAP's fixed 10 s input windows.

- The waveform goes through 16-bit PCM first, as the package does with every numpy input
  (``get_audio_embedding_from_data`` and ``..._from_filelist``) and as its training data
  loader did: samples are clipped to [-1, 1], scaled by 32767, truncated towards zero to
  int16 and scaled back. Kept because the checkpoint only ever saw such audio and the
  package's embeddings are defined on it; it also bounds what a clipping file can feed in.
- A clip no longer than the window is one window, "repeatpad" as the package pads short
  audio: repeated ``floor(window / length)`` times, then zero-padded to the window.
- A longer clip is cut into consecutive windows of exactly 10 s starting at 0, 10, 20 s,
  …, and the last one is aligned to the clip's end (so it overlaps the one before it
  unless the length is a multiple of 10 s): ``ceil(length / window)`` windows, every one
  10 s of the clip's own audio (:func:`benchmark.api.window_starts`). The package instead
  embeds one randomly placed 10 s crop, which is not deterministic; its ``audio_infer``
  likewise ends on a window aligned to the end.
"""

from __future__ import annotations

import numpy as np

from benchmark.api import BenchError, window_starts

#: The rules above, as the expert's settings record them.
RULES = {
    "quantise": "int16 round trip, clipped to [-1, 1] (as the package)",
    "short_clips": "repeatpad: repeated floor(window / length) times, then zero-padded (as the package)",
    "long_clips": "consecutive windows from 0 s, the last one aligned to the clip's end; one frame per window",
}


def quantise(waveform: np.ndarray) -> np.ndarray:
    """The int16 round trip of the package (``float32_to_int16`` then ``int16_to_float32``)."""
    pcm = (np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0) * 32767.0).astype(np.int16)
    return (pcm / 32767.0).astype(np.float32)


def repeat_pad(waveform: np.ndarray, length: int) -> np.ndarray:
    """``waveform`` (at most ``length`` samples) repeated as often as it fits whole, then
    zero-padded to ``length``."""
    repeated = np.tile(waveform, length // len(waveform))
    return np.pad(repeated, (0, length - len(repeated)))


def windows(waveform: np.ndarray, length: int) -> np.ndarray:
    """The clip's input windows, ``(count, length)`` float32, after :func:`quantise`."""
    if len(waveform) == 0:
        raise BenchError("cannot embed an empty waveform (0 samples): LAION-CLAP repeats a short clip to fill "
                         "its 10 s window and needs at least one sample")
    audio = quantise(waveform)
    if len(audio) <= length:
        return repeat_pad(audio, length)[None]
    return np.stack([audio[s : s + length] for s in window_starts(len(audio), length)])

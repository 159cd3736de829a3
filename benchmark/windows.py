"""Fixed-length windows over clips of any length, embedded deterministically.

Models trained on fixed-length inputs (CLAP's 5 s or 10 s) see a long clip as several
windows. :func:`window_starts` places them without randomness: consecutive from 0, the last
one aligned to the clip's end, so every window is the clip's own audio and none is a random
crop. :func:`embed_windows` runs the windows of a whole ``embed`` call through a network in
batches of exactly one size, so a clip's embeddings never depend on the clips beside it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def window_starts(samples: int, size: int) -> list[int]:
    """Start offsets of the ``ceil(samples / size)`` windows of ``size`` samples covering a
    clip of ``samples``: ``0, size, 2 size, …`` and last ``samples - size`` (overlapping the
    one before unless ``samples`` is a multiple of ``size``); ``[0]`` for a clip no longer
    than one window, which the expert pads by its model's own rule."""
    if samples <= size:
        return [0]
    count = -(-samples // size)
    return [index * size for index in range(count - 1)] + [samples - size]


def embed_windows(clips: Sequence[np.ndarray], group: int, run: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
    """One output row per window: ``run`` over every clip's windows (``(n_i, size)`` arrays)
    in batches of exactly ``group`` rows, the last filled with zeros whose outputs are
    dropped, then split back per clip. Float results depend on a batch's size, which a
    fixed one removes; only one batch of windows is copied at a time."""
    rows = [row for clip in clips for row in clip]
    if not rows:
        return []
    outputs = []
    for start in range(0, len(rows), group):
        part = rows[start : start + group]
        batch = np.zeros((group, *part[0].shape), dtype=np.float32)
        batch[: len(part)] = part
        outputs.append(run(batch)[: len(part)])
    return list(np.split(np.concatenate(outputs), np.cumsum([len(clip) for clip in clips])[:-1]))

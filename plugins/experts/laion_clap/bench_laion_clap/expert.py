"""The LAION-CLAP audio expert: one 512-d joint-space embedding per 10 s window of a clip.

Its frames are the package's audio embeddings (HTSAT-tiny, projected and L2-normalised),
one per window cut by :mod:`bench_laion_clap.windows`: a clip up to 10 s is one frame, a
35 s clip four. The frames live in the space of :class:`bench_laion_clap.text.LaionClapText`'s
caption embeddings, so the ``average`` head's masked mean over them is a zero-shot clip
embedding (chunk and average), and the same frames serve as one expert among others in
trained systems.

The windows of all clips of a call are embedded in groups of ``window_batch`` (default 4),
the last group filled up with silent windows whose output is dropped. Every forward pass
thus has the same shape, and a window gives bit-identical frames whatever clips it is
extracted with: with a varying batch size the matrix products may take other kernels and
round differently (one window alone differs from the same window in a batch of four by
~6e-8 on this project's CPU). A window is ~14 GFLOP: on 2 CPU threads it takes ~0.1 s
whether windows go one or four at a time; larger groups are for GPUs, where one window
alone would leave the device idle (not measured here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import BenchError, PretrainedExpert, embed_windows
from bench_laion_clap.clap import JOINT_DIM, AudioSide, Clap, load_clap
from bench_laion_clap.files import CHECKPOINT
from bench_laion_clap.htsat import SAMPLE_RATE, WINDOW
from bench_laion_clap.windows import RULES, windows


class LaionClap(PretrainedExpert):
    """LAION-CLAP 630k-audioset-best (HTSAT-tiny, non-fusion): 512-d frames, one per 10 s window."""

    sample_rate = SAMPLE_RATE
    dim = JOINT_DIM
    files = {"model": CHECKPOINT}

    def __init__(self, weights: str = "pretrained", window_batch: int = 4, batch_size: int = 16, device: str = "cpu",
                 precision: str = "auto") -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        if int(window_batch) < 1:
            raise BenchError(f"window_batch must be at least 1, got {window_batch}")
        self.window_batch = int(window_batch)

    def options(self) -> dict[str, Any]:
        return {"model": "LAION-CLAP HTSAT-tiny non-fusion", "window_samples": WINDOW, "window_batch": self.window_batch,
                **RULES}

    def build(self) -> torch.nn.Module:
        return Clap(audio=True, text=False)

    def load(self, network: torch.nn.Module, paths: dict[str, Path]) -> None:
        load_clap(network, paths["model"])

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return AudioSide(network)

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        cut = [windows(np.asarray(w, dtype=np.float32), WINDOW) for w in waveforms]  # bad input refused before any work
        return embed_windows(cut, self.window_batch,
                             lambda batch: runner(torch.from_numpy(batch).to(self.device)).float().cpu().numpy())

"""MS-CLAP 2022's audio tower as an expert: one joint-space frame per 5 s window.

Each clip is cut into 5 s windows (:mod:`bench_ms_clap.windows`: repeat-padded when shorter,
consecutive windows, the last one ending with the clip, when longer; never a random crop),
and every window goes through CNN14 and the audio projection: its frame is the 1024-d
embedding msclap's ``get_audio_embeddings`` returns, in the space of the caption encoder
``ms_clap_text``. A zero-shot system averages a clip's frames (``head: average``); a
trained system reads them as any other expert's frames, 0.2 per second.

Windows of all the clips of one call are run together, ``window_batch`` at a time
(:func:`benchmark.api.embed_windows`), so a 10-minute file (120 windows) never holds more
than that many in the network at once. Every batch has exactly ``window_batch`` rows (the
last one filled with silent windows whose outputs are dropped): float results depend on
the batch size, and a fixed one makes a clip's frames the same whichever clips it was
embedded with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import PretrainedExpert, embed_windows
from bench_ms_clap.checkpoint import CHECKPOINT, load_towers
from bench_ms_clap.network import AUDIO, JOINT_DIM, MSClap
from bench_ms_clap.windows import RULE, windows


class _AudioTower(torch.nn.Module):
    """The audio encoder of a :class:`MSClap` as a module of its own, so that it can be traced."""

    def __init__(self, network: MSClap) -> None:
        super().__init__()
        self.encoder = network.audio_encoder

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.encoder(windows)


class MSClapExpert(PretrainedExpert):
    """MS-CLAP 2022 audio embeddings of consecutive 5 s windows at 44.1 kHz: 1024-d, 0.2 frames/s."""

    sample_rate = AUDIO.sample_rate
    dim = JOINT_DIM
    files = {"model": CHECKPOINT}
    # float32 unless asked: the frames are compared with captions directly, as msclap computes them.
    auto_bfloat16 = False

    def __init__(self, weights: str = "pretrained", batch_size: int = 16, window_batch: int = 8, device: str = "cpu",
                 precision: str = "auto") -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        self.window_batch = max(1, int(window_batch))

    def build(self) -> torch.nn.Module:
        return MSClap(("audio",))

    def load(self, network: torch.nn.Module, paths: dict[str, Path]) -> None:
        load_towers(network, paths["model"])

    def options(self) -> dict[str, Any]:
        return {
            "checkpoint": "MS-CLAP 2022 (msclap version '2022')", "window_samples": AUDIO.window_samples,
            "windows": RULE, "frame": "audio projection output (joint space, not normalised)",
        }

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return _AudioTower(network)

    def example(self) -> torch.Tensor:
        return torch.zeros(1, AUDIO.window_samples)

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        per_clip = [windows(waveform, AUDIO.window_samples) for waveform in waveforms]
        return embed_windows(per_clip, self.window_batch,
                             lambda batch: runner(torch.from_numpy(batch).to(self.device)).float().cpu().numpy())

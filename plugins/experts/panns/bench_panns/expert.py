"""PANNs CNN14 (16 kHz checkpoint) with the time aggregation removed, on panns-inference.

CNN14 turns its last convolution block into a clip vector by averaging over frequency and
then taking max + mean over time, before ``fc1``. The report removes the time
aggregation: here every time step goes through the remaining layers (``fc1`` and ReLU,
as panns-inference's ``embedding``), one
2048-d frame per 32 STFT hops of 10 ms, i.e. 3.125 frames/s. Clips shorter than one second
are zero-padded to one second; clips longer than ``segment_seconds`` are cut into segments
of that length (a multiple of the 0.32 s frame) whose frames are concatenated.

Importing ``panns_inference`` runs its package ``__init__``, which downloads the AudioSet
label CSV and, offline, leaves an empty file that breaks later imports. Only its
``models`` module is needed, so it is imported without running the package ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import PretrainedExpert, WeightFile

FRAME = 160 * 32  # samples per output frame: 32 hops of 10 ms at 16 kHz


def panns_models() -> types.ModuleType:
    """``panns_inference.models`` without executing ``panns_inference/__init__.py``."""
    if "panns_inference.models" in sys.modules:
        return sys.modules["panns_inference.models"]
    spec = importlib.util.find_spec("panns_inference")
    if spec is None or not spec.submodule_search_locations:
        from benchmark.api import BenchError

        raise BenchError("needs the panns-inference package: pip install panns-inference")
    if "panns_inference" not in sys.modules:
        package = types.ModuleType("panns_inference")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["panns_inference"] = package
    return importlib.import_module("panns_inference.models")


class _Frames(torch.nn.Module):
    """``function(network, input)`` as a module of its own, so that it can be traced."""

    def __init__(self, network: torch.nn.Module, function: Any) -> None:
        super().__init__()
        self.network, self.function = network, function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(self.network, x)


class PANNs(PretrainedExpert):
    """CNN14-16k frames: 2048-d, 3.125 per second."""

    sample_rate = 16000
    auto_bfloat16 = True  # its convolutions are the whole cost: 1.6-1.9x faster on a CPU with bfloat16
    dim = 2048
    files = {
        "model": WeightFile(
            "Cnn14_16k_mAP=0.438.pth",
            "https://zenodo.org/records/3987831/files/Cnn14_16k_mAP%3D0.438.pth?download=1",
            md5="362fc5ff18f1d6ad2f6d464b45893f2c",  # published by Zenodo
        )
    }
    checkpoint_keys = ("model",)  # the training script also saved the iteration and sampler

    def __init__(self, weights: str = "pretrained", segment_seconds: float = 61.44, batch_size: int = 16, device: str = "cpu", precision: str = "auto") -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        self.segment = max(FRAME, int(round(segment_seconds * self.sample_rate / FRAME)) * FRAME)

    def options(self) -> dict[str, Any]:
        return {"segment_samples": self.segment, "min_samples": self.sample_rate, "layer": "fc1"}

    def build(self) -> torch.nn.Module:
        cnn14 = panns_models().Cnn14
        return cnn14(sample_rate=16000, window_size=512, hop_size=160, mel_bins=64, fmin=50, fmax=8000, classes_num=527)

    @staticmethod
    def conv_frames(net: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
        """CNN14 up to its frequency average, the point where it pools over time: ``(batch, frames, 2048)``."""
        x = net.logmel_extractor(net.spectrogram_extractor(audio))
        x = net.bn0(x.transpose(1, 3)).transpose(1, 3)
        for block in (net.conv_block1, net.conv_block2, net.conv_block3, net.conv_block4, net.conv_block5):
            x = block(x, pool_size=(2, 2), pool_type="avg")
        x = net.conv_block6(x, pool_size=(1, 1), pool_type="avg")
        return torch.mean(x, dim=3).transpose(1, 2)

    @classmethod
    def forward_frames(cls, net: torch.nn.Module, audio: torch.Tensor) -> torch.Tensor:
        """``fc1`` and ReLU applied to every frame instead of to the time-pooled vector."""
        return torch.relu(net.fc1(cls.conv_frames(net, audio)))

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return _Frames(network, self.forward_frames)

    def example(self) -> torch.Tensor:
        return torch.zeros(1, self.sample_rate)

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = []
        for waveform in waveforms:
            audio = np.asarray(waveform, dtype=np.float32)
            if len(audio) < self.sample_rate:
                audio = np.pad(audio, (0, self.sample_rate - len(audio)))
            parts = [
                runner(torch.from_numpy(audio[s : s + self.segment])[None].to(self.device))[0]
                for s in range(0, len(audio), self.segment)
                if s == 0 or len(audio) - s >= FRAME  # a tail shorter than one frame adds nothing
            ]
            out.append(torch.cat(parts).float().cpu().numpy())
        return out

"""VGGSound's audio ResNet-18 (Chen et al. 2020, model H), frequency-averaged, as frames.

VGGSound ships no package: :class:`ResNet18` is written here with the parameter names of
the official checkpoint (``audnet.conv1.weight`` ...; the ``audnet.`` and ``module.``
prefixes are dropped), so ``H.pth.tar`` loads into it strictly. It has 11,328,757
parameters: torchvision's ResNet-18 with a one-channel input and 309 classes.

Front end, as in the official test script: 16 kHz audio clipped to [-1, 1], a SciPy
spectrogram (512-sample Tukey windows every 159 samples), log(x + 1e-7), and per-clip
standardisation. The official script tiles every clip to exactly 10 s; here the whole clip
is used and only clips under one second are tiled up to one second.

The network's output after ``layer4`` is averaged over frequency, giving 512-d frames at
16000 / 159 / 32 = 3.14 frames/s. The report then applies AvgPool1d(60, stride 40) over
time and states 2.3 frames/s; on this network that pooling would leave one frame per
12.7 s (none for a clip under 19 s), so it cannot be what produced 2.3 frames/s. The
pooling is therefore off by default and available as ``time_pool: [60, 40]``; see
the plugin README for the reasoning.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from benchmark.api import PretrainedExpert, WeightFile

HOP = 512 - 353  # spectrogram hop in samples
STRIDE = 32  # the ResNet's total downsampling in time


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """ResNet-18 over a one-channel spectrogram ``(batch, 1, freq, time)``."""

    def __init__(self, num_classes: int = 309) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, inplanes = (64, 128, 256, 512), 64
        for index, planes in enumerate(widths, start=1):
            stride = 1 if index == 1 else 2
            setattr(self, f"layer{index}", nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes)))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, ``(batch, 512, freq / 32, time / 32)``."""
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


class _FrequencyAveraged(nn.Module):
    """``(batch, 1, freq, time)`` spectrogram -> ``(batch, time / 32, 512)`` frames."""

    def __init__(self, network: ResNet18) -> None:
        super().__init__()
        self.network = network

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.network.features(spec).mean(dim=2).transpose(1, 2)


def spectrogram(waveform: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """The official front end: standardised log power spectrogram, ``(257, frames)``."""
    from scipy import signal

    audio = np.clip(np.asarray(waveform, dtype=np.float64), -1.0, 1.0)
    _, _, spec = signal.spectrogram(audio, sample_rate, nperseg=512, noverlap=353)
    spec = np.log(spec + 1e-7)
    return ((spec - spec.mean()) / (spec.std() + 1e-9)).astype(np.float32)


class VGGSound(PretrainedExpert):
    """512-d frames from VGGSound's ResNet-18 (model H)."""

    sample_rate = 16000
    dim = 512
    files = {
        # The VGG group publishes no checksum: the first verified copy's SHA-256 is recorded.
        "model": WeightFile("H.pth.tar", "https://www.robots.ox.ac.uk/~vgg/data/vggsound/models/H.pth.tar")
    }
    # The official script saves {"model_state_dict": AVENet.state_dict(), ...}; AVENet names the ResNet "audnet".
    checkpoint_keys = ("model_state_dict", "state_dict")
    strip_prefixes = ("module.", "audnet.")

    def __init__(
        self,
        weights: str = "pretrained",
        time_pool: list[int] | None = None,
        segment_frames: int = 6016,
        batch_size: int = 16,
        device: str = "cpu", precision: str = "auto",
    ) -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        self.time_pool = [int(v) for v in time_pool] if time_pool else None
        self.segment = max(STRIDE, int(segment_frames) // STRIDE * STRIDE)  # about 60 s of spectrogram

    def options(self) -> dict[str, Any]:
        return {"time_pool": self.time_pool, "segment_frames": self.segment, "min_seconds": 1.0}

    def build(self) -> nn.Module:
        return ResNet18()

    def inference_module(self, network: nn.Module) -> nn.Module:
        return _FrequencyAveraged(network)

    def example(self) -> torch.Tensor:
        return torch.zeros(1, 1, 257, 128)

    def clip_frames(self, runner: Any, waveform: np.ndarray) -> torch.Tensor:
        """Frequency-averaged ResNet features of one clip, ``(frames, 512)``, before time pooling."""
        audio = np.asarray(waveform, dtype=np.float32)
        if len(audio) < self.sample_rate:
            audio = np.tile(audio if len(audio) else np.zeros(1, np.float32), -(-self.sample_rate // max(len(audio), 1)))[: self.sample_rate]
        spec = torch.from_numpy(spectrogram(audio, self.sample_rate))
        parts = [
            runner(spec[None, None, :, s : s + self.segment].to(self.device))[0]
            for s in range(0, spec.shape[1], self.segment)
            if s == 0 or spec.shape[1] - s >= STRIDE
        ]
        return torch.cat(parts)

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = []
        for waveform in waveforms:
            x = self.clip_frames(runner, waveform)
            if self.time_pool:
                kernel, stride = self.time_pool
                if len(x) < kernel:  # shorter than one pooling window: average what there is
                    x = x.mean(dim=0, keepdim=True)
                else:
                    x = nn.functional.avg_pool1d(x.T[None], kernel, stride)[0].T
            out.append(x.float().cpu().numpy())
        return out

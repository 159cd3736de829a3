"""VGGish as published (torchvggish), with the PCA post-processing inside the module.

torchvggish 0.2 keeps the PCA parameters in a plain object outside the ``nn.Module``;
here they are parameters of the network, so the parameter count is the report's
72,157,696 and the checkpoint identity covers them. The log-mel front end is
torchvggish's own (``waveform_to_examples`` at 16 kHz): 0.96 s patches without overlap,
so about one frame per second; a clip too short for one patch (under 0.975 s) is
zero-padded to one. Patches from all clips of a batch go through the network together.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.api import PretrainedExpert, WeightFile, load_checkpoint, load_state

RELEASE = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/"
#: Samples for one 96-frame patch: a 400-sample window plus 95 hops of 160.
MIN_SAMPLES = 400 + 95 * 160


class VGGishNetwork(torch.nn.Module):
    """torchvggish's VGG plus the AudioSet PCA (whitening) and 8-bit quantisation."""

    def __init__(self) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # resampy's pkg_resources deprecation notice
            from torchvggish.torchvggish import VGG, make_layers

        self.vgg = VGG(make_layers(), postprocess=False)
        self.pca_eigen_vectors = torch.nn.Parameter(torch.linalg.qr(torch.randn(128, 128))[0])
        self.pca_means = torch.nn.Parameter(torch.zeros(128))

    def forward(self, patches: torch.Tensor, postprocess: bool = True) -> torch.Tensor:
        x = self.vgg(patches)
        if not postprocess:
            return x
        x = (x - self.pca_means) @ self.pca_eigen_vectors.T
        return torch.round((torch.clamp(x, -2.0, 2.0) + 2.0) * (255.0 / 4.0))


class _Postprocessed(torch.nn.Module):
    """The network with post-processing on, as a one-argument module (for tracing)."""

    def __init__(self, network: VGGishNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.network(patches, postprocess=True)


class VGGish(PretrainedExpert):
    """128-d VGGish embeddings, one per 0.96 s (PCA-whitened and quantised unless ``postprocess: false``)."""

    sample_rate = 16000
    dim = 128
    files = {
        # torch.hub convention: the file name carries the first hex digits of its SHA-256.
        "model": WeightFile("vggish-10086976.pth", RELEASE + "vggish-10086976.pth", sha256_prefix="10086976"),
        "pca": WeightFile("vggish_pca_params-970ea276.pth", RELEASE + "vggish_pca_params-970ea276.pth", sha256_prefix="970ea276"),
    }

    def __init__(self, weights: str = "pretrained", postprocess: bool = True, batch_size: int = 16, patch_batch: int = 128, device: str = "cpu", precision: str = "auto") -> None:
        super().__init__(weights=weights, batch_size=batch_size, device=device, precision=precision)
        self.postprocess = bool(postprocess)
        self.patch_batch = int(patch_batch)

    def options(self) -> dict[str, Any]:
        return {"postprocess": self.postprocess}

    def build(self) -> torch.nn.Module:
        return VGGishNetwork()

    def load(self, network: torch.nn.Module, paths: dict) -> None:
        load_state(network.vgg, load_checkpoint(paths["model"]), paths["model"])
        pca = load_checkpoint(paths["pca"])
        try:
            vectors = torch.as_tensor(np.asarray(pca["pca_eigen_vectors"]), dtype=torch.float32)
            means = torch.as_tensor(np.asarray(pca["pca_means"]), dtype=torch.float32).reshape(-1)
        except (KeyError, TypeError) as exc:
            from benchmark.api import BenchError

            raise BenchError(f"weights file {paths['pca']} has no PCA parameters ({exc}); is it vggish_pca_params?") from None
        load_state(network, {**network.state_dict(), "pca_eigen_vectors": vectors, "pca_means": means}, paths["pca"])

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        return _Postprocessed(network) if self.postprocess else network.vgg

    def example(self) -> torch.Tensor:
        return torch.zeros(1, 1, 96, 64)

    @staticmethod
    def patches(waveform: np.ndarray) -> torch.Tensor:
        """``(n, 1, 96, 64)`` log-mel patches of one 16 kHz clip (torchvggish's front end)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # resampy's pkg_resources deprecation notice
            from torchvggish.vggish_input import waveform_to_examples

        audio = np.asarray(waveform, dtype=np.float64)
        if len(audio) < MIN_SAMPLES:
            audio = np.pad(audio, (0, MIN_SAMPLES - len(audio)))
        return waveform_to_examples(audio, 16000, return_tensor=True).detach()

    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        patches = [self.patches(w) for w in waveforms]
        stacked = torch.cat(patches)
        out = torch.cat([runner(stacked[s : s + self.patch_batch].to(self.device)) for s in range(0, len(stacked), self.patch_batch)])
        return [part.float().cpu().numpy() for part in torch.split(out, [len(p) for p in patches])]

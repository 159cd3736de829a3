"""Shared machinery for experts built on a pretrained PyTorch network.

A subclass says which files hold its weights (:attr:`files`), how to build the network
(:meth:`build`), how to put the checkpoint into it (:meth:`load`) and how to turn a batch of
waveforms into frames (:meth:`frames`). This class handles the ``weights`` option
(``pretrained``, ``random`` or a file path), seeded random initialisation, lazy loading
(``bench list`` and cache hits never build the network) and inference mode, and puts the
weights' identity into :meth:`settings`, hence the cache key.

On the CPU the part of the network that :meth:`frames` calls (:meth:`inference_module`) is
traced and frozen with TorchScript (``optimize_for_inference``: batch norm folded into the
convolutions, oneDNN kernels), which gives the same outputs to float rounding and is
1.2-1.6x faster on the experts here; the tests compare it with the eager module.

The ``precision`` option picks the arithmetic: ``float32``, ``bfloat16`` (autocast: the
convolutions and matrix products in bfloat16; on random weights the frames differ from
float32 by a few percent, with cosine similarity above 0.99 per frame) or ``auto``: bfloat16 for the
experts that set :attr:`PretrainedExpert.auto_bfloat16` (where it pays: OpenL3 and PANNs
run 1.6-1.9x faster) on a CPU that computes it natively (AVX512-BF16 or AMX), float32
everywhere else. The resolved precision is part of :meth:`settings`, hence of the cache key
and of every result.
"""

from __future__ import annotations

import abc
import warnings
from typing import TYPE_CHECKING, Any, Sequence

from benchmark.api import Expert
from benchmark.weights import PRETRAINED, WeightFile, build_network, weights_identity

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import numpy as np
    import torch


PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """True where the CPU has bfloat16 instructions (AVX512-BF16, AMX): only there is
    bfloat16 inference faster than float32 rather than emulated and slower."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


class PretrainedExpert(Expert):
    """An expert whose network weights come from :attr:`files` (see the module docstring)."""

    pretrained = True
    #: Role -> file; most experts have one role, ``"model"``.
    files: dict[str, WeightFile] = {}
    #: Where a checkpoint dict keeps the state dict (the first key present is used;
    #: a checkpoint that is itself the state dict works too) ...
    checkpoint_keys: tuple[str, ...] = ("state_dict",)
    #: ... and the key prefixes to drop (``module.`` from DataParallel, wrapper names).
    strip_prefixes: tuple[str, ...] = ("module.",)
    #: Whether ``precision: auto`` picks bfloat16 on a CPU with native bfloat16: worth it for
    #: networks whose convolutions dominate their time, not for those that are already fast.
    auto_bfloat16: bool = False

    def __init__(self, weights: str = PRETRAINED, batch_size: int = 16, device: str = "cpu", precision: str = "auto") -> None:
        from benchmark.errors import unknown_name

        if precision not in PRECISIONS:
            raise unknown_name("precision", str(precision), PRECISIONS)
        self.weights = str(weights)
        self.batch_size = int(batch_size)
        self.device = device
        self.precision = precision
        self._network: torch.nn.Module | None = None
        self._runner: Any = None

    @abc.abstractmethod
    def build(self) -> torch.nn.Module:
        """The network with freshly initialised weights (the parameter count is fixed here)."""

    def load(self, network: torch.nn.Module, paths: dict[str, Path]) -> None:
        """Put the checkpoint files into ``network`` (default: the ``model`` file, read
        through :attr:`checkpoint_keys` and :attr:`strip_prefixes`)."""
        from benchmark.weights import load_checkpoint, load_state

        path = paths["model"]
        state = load_checkpoint(path)
        if isinstance(state, dict):
            state = next((state[k] for k in self.checkpoint_keys if k in state), state)
        load_state(network, state, path, strip=self.strip_prefixes)

    @abc.abstractmethod
    def frames(self, runner: Any, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``(frames, dim)`` arrays for mono float32 waveforms at :attr:`sample_rate`;
        ``runner`` is :attr:`runner`, i.e. :meth:`inference_module`, possibly traced."""

    def inference_module(self, network: torch.nn.Module) -> torch.nn.Module:
        """The module :meth:`frames` runs (default: the whole network)."""
        return network

    def example(self) -> torch.Tensor | None:
        """A small input to trace :meth:`inference_module` with; ``None`` keeps it eager."""
        return None

    def options(self) -> dict[str, Any]:
        """The expert's own settings besides the weights (part of :meth:`settings`)."""
        return {}

    def settings(self) -> dict[str, Any]:
        return {
            "weights": weights_identity(self.weights, self.files), "sample_rate": self.sample_rate, "dim": self.dim,
            "precision": self.arithmetic, **self.options(),
        }

    @property
    def arithmetic(self) -> str:
        """The resolved ``precision`` (see the module docstring)."""
        if self.precision != "auto":
            return self.precision
        return "bfloat16" if self.auto_bfloat16 and self.device == "cpu" and native_bfloat16() else "float32"

    def _autocast(self) -> Any:
        import contextlib

        import torch

        if self.arithmetic == "float32":
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=torch.bfloat16)

    @property
    def network(self) -> torch.nn.Module:
        """The network, built and loaded on first use, in eval mode on :attr:`device`."""
        if self._network is None:
            network = build_network(self.weights, self.files, self.build, self.load)
            self._network = network.eval().requires_grad_(False).to(self.device)
        return self._network

    @property
    def runner(self) -> Any:
        """:meth:`inference_module`, traced and frozen on the CPU (see the module docstring)."""
        if self._runner is None:
            import torch

            module, example = self.inference_module(self.network), self.example()
            if example is not None and self.device == "cpu":
                # Traced under autocast, the bfloat16 casts are part of the frozen graph.
                with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), self._autocast():
                    warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python code
                    module = torch.jit.optimize_for_inference(torch.jit.trace(module, example, check_trace=False))
                    for _ in range(2):  # TorchScript profiles the first runs before optimising: make them cheap
                        module(example)
            self._runner = module
        return self._runner

    def embed(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        runner = self.runner
        with torch.inference_mode(), self._autocast():
            return self.frames(runner, waveforms)


def parameter_count(network: torch.nn.Module) -> int:
    """Parameters as the report's Table 1 counts them: every ``nn.Parameter``, frozen or not."""
    return sum(p.numel() for p in network.parameters())

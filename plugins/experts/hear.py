"""Any HEAR 2021 model as an expert: ``experts: [{name: hear, module: hearbaseline}]``.

The HEAR API (Turian et al. 2022) is a module with ``load_model(model_file_path)``
returning a model that has ``sample_rate`` and ``timestamp_embedding_size``, and
``get_timestamp_embeddings(audio[n_sounds, n_samples], model)`` returning embeddings
``[n_sounds, n_timestamps, dim]`` and timestamps in milliseconds. Dozens of published
models implement it; this adapter makes each of them usable by module name. The HEAR API
takes equal-length batches, so clips of equal length are embedded together and the others
one at a time.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

import numpy as np

from benchmark.api import BenchError, Expert


class HEARExpert(Expert):
    """Frames from a HEAR-API module's ``get_timestamp_embeddings``."""

    def __init__(self, module: str, model_file: str = "", batch_size: int = 16, device: str = "cpu") -> None:
        self.module_name = module
        self.model_file = str(model_file)
        self.batch_size = int(batch_size)
        self.device = device
        self._module: Any = None
        self._model: Any = None

    @property
    def module(self) -> Any:
        if self._module is None:
            try:
                self._module = importlib.import_module(self.module_name)
            except ImportError as exc:
                raise BenchError(f"cannot import HEAR module {self.module_name!r} ({exc}); pip install it first") from None
            missing = [f for f in ("load_model", "get_timestamp_embeddings") if not callable(getattr(self._module, f, None))]
            if missing:
                raise BenchError(f"module {self.module_name!r} does not implement the HEAR API (no {', '.join(missing)})")
        return self._module

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.module.load_model(self.model_file) if self.model_file else self.module.load_model()
            if hasattr(self._model, "to"):
                self._model = self._model.to(self.device)
            if hasattr(self._model, "eval"):
                self._model.eval()
        return self._model

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return int(self.model.sample_rate)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return int(self.model.timestamp_embedding_size)

    def settings(self) -> dict[str, Any]:
        from importlib import metadata
        from pathlib import Path

        from benchmark.api import file_sha256

        top = self.module_name.split(".")[0]
        try:
            version = metadata.version(top)
        except metadata.PackageNotFoundError:
            version = getattr(self.module, "__version__", None)
        model_file = file_sha256(Path(self.model_file)) if self.model_file else None
        return {"module": self.module_name, "version": version, "model_file": model_file, "sample_rate": self.sample_rate, "dim": self.dim}

    def embed(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        out: list[np.ndarray | None] = [None] * len(waveforms)
        by_length: dict[int, list[int]] = {}
        for index, waveform in enumerate(waveforms):
            by_length.setdefault(len(waveform), []).append(index)
        with torch.inference_mode():
            for indices in by_length.values():
                audio = torch.from_numpy(np.stack([np.asarray(waveforms[i], np.float32) for i in indices])).to(self.device)
                embeddings, _ = self.module.get_timestamp_embeddings(audio, self.model)
                for i, e in zip(indices, embeddings):
                    out[i] = e.float().cpu().numpy()
        return out  # type: ignore[return-value]

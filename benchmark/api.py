"""Base classes for plugin targets (see :mod:`benchmark.hookspecs` for the contract).

Kept free of torch imports so that plugins can subclass them without making
``bench list`` slow.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from benchmark.data import Split


class Expert(abc.ABC):
    """A frozen audio encoder that turns a waveform into a sequence of embedding frames.

    Modelled on the HEAR API (``get_timestamp_embeddings``): one ``(frames, dim)`` array
    per clip, at the expert's own frame rate.
    """

    #: Sample rate (Hz) the expert expects; the harness resamples and mixes down to mono.
    sample_rate: int
    #: Embedding dimension of each frame.
    dim: int
    #: How many clips the harness hands to one ``embed`` call.
    batch_size: int = 16
    #: True for experts with downloadable pretrained weights. Such experts take a
    #: ``weights`` option (``pretrained``, ``random`` or a file path), which
    #: ``--expert-weights`` sets for all of them; see :mod:`benchmark.pretrained`.
    pretrained: bool = False
    #: The torch device the harness runs on (``"cpu"``, ``"cuda"``); set before ``embed``.
    device: str = "cpu"

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that changes the output (weights, hop, sizes): part of the cache key."""

    @abc.abstractmethod
    def embed(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Map mono float32 waveforms at ``sample_rate`` to ``(frames, dim)`` float arrays."""


class Dataset(abc.ABC):
    """An audio-caption dataset: files under a data directory, grouped into named splits."""

    #: Split roles → split names. ``train`` fits the model, ``validation`` picks the
    #: checkpoint, ``test`` is scored. Recorded with every result.
    #: A role may name several splits joined by ``+`` (``development+validation``): the
    #: role then plays their union.
    protocol: dict[str, str] = {"train": "development", "validation": "validation", "test": "evaluation"}
    #: The protocol's name, recorded with every result and part of the result's dataset key
    #: when it is not the plugin's default.
    protocol_name: str = "standard"

    def options(self) -> dict[str, Any]:
        """The options this dataset was built with (part of its result and cache keys)."""
        return {}

    def storage_options(self) -> dict[str, Any]:
        """The options that change the files on disk (they name the data directory); options
        that only choose a protocol leave them alone, so protocols share one download."""
        return self.options()

    def source(self) -> dict[str, Any]:
        """Where the files came from and how they were checked (``{"archives_verified":
        False, "audio_dir": …}`` for audio the user extracted, the path of a local folder,
        clips skipped for missing audio); recorded with every result, part of no key.
        Called after ``prepare`` and ``load_split``."""
        return {}

    def report(self, data_dir: Path) -> list[str]:
        """Findings about the prepared data worth a user's attention (leaked clips, skipped
        files), one line each; ``bench prepare`` prints them."""
        return []

    def fingerprint(self, data_dir: Path) -> str | None:
        """The identity of the content now, for a dataset whose options do not fix it (files
        a user can edit, a hub dataset that gets new commits); None when they do (a verified
        release, a generator's settings), so the key is the same on every machine.

        Called before ``prepare`` on every run, so it must be cheap (digests kept by size
        and mtime). It enters the result key and ``Split.fingerprint`` (the feature cache's
        key), and the plugin re-prepares what it copied when it changed.
        """
        return None

    @abc.abstractmethod
    def prepare(self, data_dir: Path) -> None:
        """Make the dataset's files present and verified under ``data_dir`` (idempotent)."""

    @abc.abstractmethod
    def load_split(self, data_dir: Path, split: str) -> Split:
        """List one split's audio files and captions."""


@dataclass
class LossInput:
    """What a loss sees for one batch of ``B`` clips with ``K`` captions each.

    ``similarity[i, j, k]`` is the similarity of audio ``i`` to caption ``k`` of clip ``j``;
    ``clip_index[i]`` is clip ``i``'s position in ``split`` (``"train"`` or ``"validation"``,
    the roles of :attr:`LossContext.captions`).
    """

    similarity: torch.Tensor
    clip_index: torch.Tensor
    split: str = "train"

    def clip_similarity(self) -> torch.Tensor:
        """``s_ij``: the mean similarity of audio ``i`` to all captions of clip ``j`` (``[B, B]``)."""
        return self.similarity.mean(dim=-1)


@dataclass
class LossContext:
    """Dataset-level information handed to ``loss.prepare`` once before training.

    ``captions[role][i]`` are the captions of clip ``i`` of the split playing ``role``
    (``"train"``, ``"validation"``); statistics must come from ``"train"`` only.
    ``clips[role][i]`` names that clip's audio file, for messages about its captions.
    """

    dataset: str
    captions: dict[str, list[list[str]]]
    cache_dir: Path
    clips: dict[str, list[str]] = field(default_factory=dict)

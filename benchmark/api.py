"""Everything a plugin imports from the harness: the one public surface for plugin authors.

The contract (one hook per kind, what each target must be) is :mod:`benchmark.hookspecs`;
this module holds what those targets are built from and what a plugin may call. Plugins,
the built-in ones included, import from ``benchmark.api`` only (a test enforces it): the
other ``benchmark.*`` modules are the harness's own and may change without notice.

- the :data:`hookimpl` marker and the ``register`` callback's type;
- the base classes and protocols of every kind (:class:`Expert`,
  :class:`PretrainedExpert`, :class:`Dataset`, :class:`ClothoLayoutDataset`,
  :class:`TextEncoder`; heads, fusions and losses are plain ``torch.nn.Module`` factories);
- the data the harness hands to plugins (:class:`Split`, :class:`LossInput`,
  :class:`LossContext`, :class:`PreparedDataset`) and :class:`BenchError`, the error users read;
- helpers: verified downloads and archive extraction, reading audio, pretrained weights, datasets in
  Clotho's layout, files written whole or not at all, progress lines, system files.

Importing it is cheap (no torch, numpy or network code), so ``bench list`` stays fast: the
classes below are defined here, the helpers are named by module in :data:`_LAZY` and
imported on first use. The harness's modules may import this one; it imports none of
them at import time but :mod:`benchmark.errors` and :mod:`benchmark.hookspecs`, so no
import circle passes through it.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from benchmark.errors import BenchError, unknown_name
from benchmark.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = [
    # Declaring a plugin: the marker on every hook implementation, the register callback's type.
    "hookimpl", "Register",
    # Base classes and protocols of the plugin kinds.
    "Expert", "PretrainedExpert", "Dataset", "ClothoLayoutDataset", "TextEncoder",
    # What the harness hands to plugins.
    "Split", "LossInput", "LossContext", "PreparedDataset", "MineContext",
    # Errors: the one exception users read, and "unknown X 'y'. Available: …" messages.
    "BenchError", "unknown_name",
    # Downloads (verified, resumable, atomic, offline-aware) and archives (members outside the target refused).
    "RemoteFile", "DownloadError", "ContentError", "fetch", "mirror_url", "digests", "offline", "file_sha256", "extract",
    # Reading audio as the experts do (decoded, mono, resampled): a dataset checks its downloads with it.
    "load_audio",
    # Pretrained weights: the files a plugin declares, fetched into one directory, loaded without running pickled code;
    # the `weights` option (pretrained, random, a path) as settings record it and as a built network.
    "WeightFile", "fetch_weights", "weights_dir", "load_checkpoint", "load_state", "check_weights", "weights_identity",
    "build_network",
    # Datasets in Clotho's layout: captions files, listings, audio checks, content fingerprints.
    "MAX_SECONDS", "ClipLimit", "Listed", "Listing", "captions_csv", "write_captions_csv", "list_split",
    "read_caption_rows", "find_audio", "select_present", "check_audio", "clips_fingerprint", "files_fingerprint",
    # Experts that embed fixed-length windows: where a clip's windows start, and running them in fixed-size batches.
    "window_starts", "embed_windows",
    # Files written whole or not at all, stable hashes for keys, a user's text files read with one-line errors.
    "atomic_path", "write_json", "write_text", "stable_hash", "read_text", "read_json_lines",
    # Progress lines and whether stderr is a terminal; where bench mine writes.
    "Progress", "is_terminal", "mined_root",
    # System files: reading one, normalising a component entry.
    "load_system_file", "register_system_files", "component",
]

#: The helpers, by the module that defines them: imported when a plugin first asks for one.
_LAZY: dict[str, str] = {
    name: module
    for module, names in {
        "benchmark.pretrained": ("PretrainedExpert",),
        "benchmark.data": ("ClothoLayoutDataset", "PreparedDataset", "MAX_SECONDS", "ClipLimit", "Listed", "Listing",
                           "captions_csv", "write_captions_csv", "list_split", "read_caption_rows", "find_audio", "select_present",
                           "check_audio", "clips_fingerprint", "files_fingerprint"),
        "benchmark.download": ("RemoteFile", "DownloadError", "ContentError", "fetch", "mirror_url", "digests", "offline",
                               "file_sha256"),
        "benchmark.audio": ("load_audio",),
        "benchmark.archive": ("extract",),
        "benchmark.weights": ("WeightFile", "fetch_weights", "weights_dir", "load_checkpoint", "load_state",
                              "check_weights", "weights_identity", "build_network"),
        "benchmark.windows": ("window_starts", "embed_windows"),
        "benchmark.io": ("atomic_path", "write_json", "write_text", "stable_hash", "read_text", "read_json_lines"),
        "benchmark.progress": ("Progress", "is_terminal"),
        "benchmark.paths": ("mined_root",),
        "benchmark.config": ("load_system_file", "register_system_files", "component"),
    }.items()
    for name in names
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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

    #: Whether the clips of identical caption texts count as relevant to each other's
    #: captions, for the conventions that count more than a caption's own clip (``dcase2025``,
    #: ``mteb``); a dataset whose repeated captions are too generic to say so sets False.
    duplicate_captions_relevant: bool = True

    def relevance(self, data_dir: Path, split: Split) -> list[list[str]] | list[dict[str, float]] | None:
        """Relevance judgements, when the dataset has them: for every caption of ``split``
        (clip by clip, in order), the file names of the *other* clips judged relevant to it,
        or, graded, a mapping of file names to grades (> 0 relevant, 0 not; nDCG weighs by
        grade, the other metrics count any grade as relevant; the caption's own clip takes
        its highest grade unless graded too). None (the default): a caption's own clip, and
        those of identical captions."""
        return None

    def query_sets(self, data_dir: Path, split: Split) -> dict[str, list[tuple[str, list[str]]]]:
        """Query sets the dataset defines on ``split`` besides its captions, by name: each
        query a caption text of the split with the file names judged relevant to it (exactly
        those: the caption's own clip only where listed). Conventions that name a set score
        it (``dcase2025``: Clotho's evaluation split with the DCASE 2025 annotations).
        Default: none."""
        return {}

    def caption_split(self, data_dir: Path, split: str) -> Split:
        """The file names and captions of ``split``, for scoring predictions made elsewhere
        (``bench score``): prepare only what they need (no audio, where the dataset can
        avoid it). Default: ``prepare`` and ``load_split``."""
        self.prepare(data_dir)
        return self.load_split(data_dir, split)

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


class TextEncoder(Protocol):
    """A caption encoder: a ``torch.nn.Module`` (so ``encoder(captions)`` calls ``forward``)
    built by a text-encoder factory ``(trainable: bool, **settings)``. A frozen one embeds
    every caption once, into a cache keyed by ``settings()``; a trainable one is fine-tuned
    with the model."""

    #: Dimension of the embeddings.
    dim: int

    def settings(self) -> dict[str, Any]:
        """Everything that changes the embeddings (model, weights): part of the cache key."""

    def forward(self, captions: list[str]) -> torch.Tensor:
        """Embed ``n`` captions as an ``[n, dim]`` tensor."""

    def __call__(self, captions: list[str]) -> torch.Tensor:
        """``forward`` through ``torch.nn.Module``'s hooks."""


@dataclass(frozen=True)
class Split:
    """One split: clip ``i`` is ``audio_paths[i]``, described by ``captions[i]``."""

    name: str
    audio_paths: tuple[Path, ...]
    captions: tuple[tuple[str, ...], ...]
    #: The content of the clips (audio bytes and captions) when the dataset's options do not
    #: fix it, as for files a user can edit; part of the feature cache's key, so edited
    #: clips are never read from features of their old content. Empty: the options fix it.
    fingerprint: str = ""
    #: Clips are read up to this many seconds, the rest cropped (a dataset's
    #: ``long_clips=crop``); None reads them whole. Part of the expert features' cache key.
    crop_seconds: float | None = None

    def __post_init__(self) -> None:
        if len(self.audio_paths) != len(self.captions):
            raise ValueError("audio_paths and captions must have the same length")

    def __len__(self) -> int:
        return len(self.audio_paths)

    @property
    def file_names(self) -> list[str]:
        return [path.name for path in self.audio_paths]

    @property
    def captions_per_clip(self) -> int:
        """The smallest number of captions any clip has (training uses every caption of each
        clip; this says how uneven a split is, e.g. AudioCaps' one per training clip)."""
        return min((len(c) for c in self.captions), default=0)

    def subset(self, name: str, indices: Sequence[int]) -> "Split":
        """The clips at ``indices``, in that order, as a split called ``name``."""
        return Split(name, tuple(self.audio_paths[i] for i in indices), tuple(self.captions[i] for i in indices),
                     self.fingerprint, self.crop_seconds)

    @classmethod
    def union(cls, parts: Sequence["Split"]) -> "Split":
        """Several splits read as one, named ``a+b``."""
        if len(parts) == 1:
            return parts[0]
        from benchmark.io import stable_hash

        crops = {p.crop_seconds for p in parts}
        if len(crops) > 1:
            raise ValueError("splits read with different crop_seconds cannot be joined")
        return cls(
            "+".join(p.name for p in parts),
            tuple(a for p in parts for a in p.audio_paths),
            tuple(c for p in parts for c in p.captions),
            stable_hash([p.fingerprint for p in parts], 16) if any(p.fingerprint for p in parts) else "",
            crops.pop(),
        )


@dataclass
class LossInput:
    """What a loss sees for one batch of ``B`` clips, padded to ``K`` captions each.

    ``similarity[i, j, k]`` is the similarity of audio ``i`` to caption ``k`` of clip ``j``;
    ``clip_index[i]`` is clip ``i``'s position in ``split`` (``"train"`` or ``"validation"``,
    the roles of :attr:`LossContext.captions`).

    Clips may have different numbers of captions (AudioCaps' training clips have one, its
    validation clips five). ``K`` is then the most of any clip in the batch and
    ``mask[j, k]`` (``[B, K]``, bool) says whether clip ``j`` has a caption ``k``; None when
    every clip has ``K`` (nothing is padded). The harness fills a padded slot with
    ``s_ij``, the mean over clip ``j``'s own captions, so a loss that averages the last axis
    stays exact without reading the mask; a loss that uses captions one by one must skip the
    slots the mask marks False (:meth:`caption_mask` gives one in every case).
    """

    similarity: torch.Tensor
    clip_index: torch.Tensor
    split: str = "train"
    mask: torch.Tensor | None = None

    def caption_mask(self) -> torch.Tensor:
        """``[B, K]`` bool: True where clip ``j`` has a caption ``k`` (all True when unpadded)."""
        if self.mask is not None:
            return self.mask
        import torch

        return torch.ones(self.similarity.shape[1:], dtype=torch.bool, device=self.similarity.device)

    def clip_similarity(self) -> torch.Tensor:
        """``s_ij``: the mean similarity of audio ``i`` to all captions of clip ``j`` (``[B, B]``),
        each clip's own captions only."""
        if self.mask is None:
            return self.similarity.mean(dim=-1)
        return (self.similarity * self.mask).sum(dim=-1) / self.mask.sum(dim=-1)


@dataclass(frozen=True)
class MineContext:
    """What ``bench mine`` hands a miner: the directory it writes to (its own, under
    ``$BENCH_HOME/mined/<name>`` unless ``--output`` says otherwise), where datasets and
    caches live, the device for models it runs, and where its progress messages go."""

    output: Path
    data_root: Path
    cache_root: Path
    device: torch.device
    log: Callable[[str], None] = print


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

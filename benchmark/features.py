"""Precomputed inputs: expert frame sequences and frozen caption embeddings, via the cache.

Experts and a frozen caption encoder compute on the run's device. Features computed off
the CPU are keyed by the device class and its TF32 settings too (:func:`device_key`), so
CPU and GPU features (float32, TF32 or bfloat16 arithmetic) never share a cache entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from benchmark.api import Expert, TextEncoder
from benchmark.audio import load_audio
from benchmark.cache import EmbeddingCache, SequenceStore
from benchmark.data import Split
from benchmark.distributed import Context, barrier
from benchmark.errors import naming
from benchmark.model import ClipInputs
from benchmark.registry import label

if TYPE_CHECKING:
    import torch

    from benchmark.plugins import PluginManager


def _split_key(dataset_key: str, split: Split) -> dict[str, Any]:
    """Identifies a split's contents: its dataset, name and the exact file list, and the
    files' content when the dataset's options do not fix it (``Split.fingerprint``)."""
    from benchmark.io import stable_hash

    key = {"dataset": dataset_key, "split": split.name, "files": stable_hash(split.file_names, 16)}
    if split.fingerprint:  # absent otherwise: entries of fixed releases keep their keys
        key["content"] = split.fingerprint
    return key


def device_key(device_type: str) -> dict[str, Any]:
    """What a cache key adds for features computed on ``device_type``: off the CPU, the device
    class and whether TF32 may stand in for float32 in matrix products and convolutions (an
    expert's own precision, float32 or bfloat16, is in its settings already).

    On the CPU it adds nothing, deliberately: CPU keys stay what they were before devices
    were keyed, so existing cache entries, and the keys behind committed results, stay valid.
    """
    import torch

    if torch.device(device_type).type == "cpu":
        return {}
    tf32 = {"matmul": bool(torch.backends.cuda.matmul.allow_tf32), "cudnn": bool(torch.backends.cudnn.allow_tf32)}
    return {"device": torch.device(device_type).type, "tf32": tf32}


def encoder_device(encoder: TextEncoder) -> str:
    """The device type a caption encoder computes on: that of its first parameter or buffer
    (the CPU when it has none yet, or is no ``torch.nn.Module``)."""
    import itertools

    import torch

    if not isinstance(encoder, torch.nn.Module):
        return "cpu"
    tensor = next(itertools.chain(encoder.parameters(), encoder.buffers()), None)
    return "cpu" if tensor is None else tensor.device.type


def expert_key(name: str, expert: Expert, dataset_key: str, split: Split) -> dict[str, Any]:
    """The cache key of ``expert``'s frames of ``split``: the expert, its settings, the split's
    contents and crop, and the device it computes on (:func:`device_key`)."""
    key = {"expert": name, "settings": expert.settings(), **_split_key(dataset_key, split)}
    if split.crop_seconds is not None:
        key["crop_seconds"] = split.crop_seconds
    return {**key, **device_key(expert.device)}


def caption_key(name: str, encoder: TextEncoder, dataset_key: str, split: Split) -> dict[str, Any]:
    """The cache key of ``split``'s captions embedded by a frozen ``encoder``: the encoder, its
    settings, the split's contents and the device its weights are on (:func:`device_key`)."""
    key = {"text_encoder": name, "settings": encoder.settings(), **_split_key(dataset_key, split)}
    return {**key, **device_key(encoder_device(encoder))}


def expert_features(
    name: str, expert: Expert, dataset_key: str, split: Split, cache_root: Path, shard: tuple[int, int] = (0, 1)
) -> SequenceStore | None:
    """Frames of every clip in ``split`` from ``expert``, computed once and then memory-mapped.

    With ``shard=(i, n)``, only shard ``i`` of ``n`` is computed here, and None comes back
    until every shard is done (see :class:`benchmark.cache.EmbeddingCache`)."""
    cache = EmbeddingCache(cache_root, "experts", name, expert_key(name, expert, dataset_key, split))

    def compute(indices: list[int]) -> list[np.ndarray]:
        waveforms = [load_audio(split.audio_paths[i], expert.sample_rate, split.crop_seconds) for i in indices]
        with naming(label("experts", name)):
            return [np.asarray(e, dtype=np.float32) for e in expert.embed(waveforms)]

    return cache.get_or_compute(
        split.file_names, compute, chunk_size=max(expert.batch_size, 32), desc=f"{name} on {split.name}", shard=shard
    )


def caption_embeddings(
    name: str, encoder: TextEncoder, dataset_key: str, split: Split, cache_root: Path, shard: tuple[int, int] = (0, 1)
) -> SequenceStore | None:
    """All captions of every clip embedded by a frozen ``encoder``: ``store[j]`` is ``(n_captions_j, dim)``.

    Identical caption strings are encoded once, on the device ``encoder`` is on; the
    embeddings come back to the CPU for the cache.
    """
    import torch

    cache = EmbeddingCache(cache_root, "text", name, caption_key(name, encoder, dataset_key, split))

    def compute(indices: list[int]) -> list[np.ndarray]:
        texts = sorted({c for i in indices for c in split.captions[i]})
        with torch.inference_mode(), naming(label("text_encoders", name)):
            vectors = torch.cat([encoder(texts[s : s + 256]) for s in range(0, len(texts), 256)]).float().cpu().numpy()
        row = {text: n for n, text in enumerate(texts)}
        return [vectors[[row[c] for c in split.captions[i]]] for i in indices]

    return cache.get_or_compute(split.file_names, compute, chunk_size=256, desc=f"captions of {split.name}", shard=shard)


class Features:
    """A system's encoders and the inputs they give any split, through the cache.

    Whether the caption encoder trains is decided here, once: a frozen one embeds captions
    into the cache, on the run's device as the experts do; a trainable one
    (``text_encoder.trainable: true``) joins the model, which moves it to the device.
    """

    def __init__(self, config: Mapping[str, Any], manager: PluginManager, device: torch.device, cache_root: Path,
                 context: Context = Context()) -> None:
        import torch

        self.cache_root, self.context, self.device = cache_root, context, device
        self.experts: list[tuple[str, Expert]] = [
            (spec["name"], manager.create("experts", spec, "system 'experts'")) for spec in config["experts"]
        ]
        for _, expert in self.experts:
            expert.device = device.type
        text_spec = dict(config["text_encoder"])
        self.trainable = bool(text_spec.pop("trainable", False))
        self.text_name = text_spec["name"]
        self.text_encoder = manager.create("text_encoders", text_spec, "system 'text_encoder'", trainable=self.trainable)
        if not self.trainable and isinstance(self.text_encoder, torch.nn.Module):
            self.text_encoder.to(device)  # the experts compute on the run's device: so does it

    @property
    def frozen_text(self) -> TextEncoder | None:
        """The caption encoder whose embeddings are cached, or None when it trains."""
        return None if self.trainable else self.text_encoder

    @property
    def trained_text(self) -> TextEncoder | None:
        """The caption encoder that trains with the model, or None when it is frozen."""
        return self.text_encoder if self.trainable else None

    def _stores(self, dataset_key: str, split: Split,
                shard: tuple[int, int] = (0, 1)) -> tuple[list[SequenceStore | None], SequenceStore | None]:
        """Every expert's frames of ``split`` and its frozen caption embeddings (None without
        a frozen encoder), computing shard ``shard``; a store is None until all shards are done."""
        audio = [expert_features(n, e, dataset_key, split, self.cache_root, shard) for n, e in self.experts]
        text = None
        if self.frozen_text is not None:
            text = caption_embeddings(self.text_name, self.frozen_text, dataset_key, split, self.cache_root, shard)
        return audio, text

    def extract(self, dataset_key: str, split: Split, shard: tuple[int, int]) -> bool:
        """Compute shard ``shard`` of every expert's frames (and frozen caption embeddings) of
        ``split``; True once every shard is done and the cache entries are complete."""
        audio, text = self._stores(dataset_key, split, shard)
        return all(store is not None for store in audio) and (self.frozen_text is None or text is not None)

    def inputs(self, dataset_key: str, split: Split) -> ClipInputs:
        audio, text = self._stores(dataset_key, split)
        return ClipInputs(audio, split.captions, text)

    def role_inputs(self, storage_key: str, parts: Sequence[Split]) -> ClipInputs:
        """Inputs of a protocol role: each split cached on its own, then read as one, so a
        union such as ``development+validation`` reuses the splits' features."""
        if self.context.distributed:  # each rank extracts its shard; rank 0 packs; all read
            for part in parts:
                self.extract(storage_key, part, (self.context.rank, self.context.world_size))
            barrier()
            if self.context.main:
                for part in parts:
                    self.extract(storage_key, part, (0, 1))
            barrier()
        return ClipInputs.concatenate([self.inputs(storage_key, part) for part in parts])

    def text_dim(self, inputs: ClipInputs) -> int:
        """The caption embedding size, which the heads map to."""
        return int(self.text_encoder.dim) if self.trainable else inputs.text.dim

    def settings(self) -> dict[str, Any]:
        """Each expert's settings by name; a name listed again is keyed ``name#2``, ``name#3``."""
        out: dict[str, Any] = {}
        for name, expert in self.experts:
            key, n = name, 1
            while key in out:
                n += 1
                key = f"{name}#{n}"
            out[key] = expert.settings()
        return out

"""The published 2022 checkpoint and how a tower is loaded from it, strictly.

``CLAP_weights_2022.pth`` (Hugging Face ``microsoft/msclap``, also Zenodo record 8378278)
is a training checkpoint: its ``model`` entry is the state dict of msclap's whole ``CLAP``
(CNN14 and its projection, BERT with its pooler and its projection, the logit scale). msclap
loads it with ``strict=False``; here every parameter a tower has must be in the file with
its shape, and every key of the file must belong to the model, or the load fails in one
line naming the keys. The only keys dropped are BERT's ``position_ids`` and
``token_type_ids`` buffers, which older transformers versions saved and newer ones
recompute, and a ``module.`` prefix from DistributedDataParallel.

The expert and the caption encoder each build only their tower (:class:`MSClap` with
``towers``) and take its entries from the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from benchmark.api import BenchError, WeightFile, load_checkpoint, load_state
from bench_ms_clap.network import TOWERS, MSClap

#: msclap downloads it with ``hf_hub_download("microsoft/msclap", "CLAP_weights_2022.pth")``.
CHECKPOINT = WeightFile(
    "CLAP_weights_2022.pth",
    "https://huggingface.co/microsoft/msclap/resolve/main/CLAP_weights_2022.pth",
    sha256="5b917c47fec10547b65cf1d9096e194896fa1c2d6180536c8524289721a4c5b8",  # 2,333,972,488 bytes
)
#: Buffers transformers no longer saves: present in older checkpoints, recomputed by BERT.
LEGACY_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")
#: What a DistributedDataParallel wrapper prefixes to every key.
WRAPPER_PREFIX = "module."


def model_state(checkpoint: Any, path: Path) -> Mapping[str, torch.Tensor]:
    """The model's state dict in a loaded checkpoint: its ``model`` entry (msclap's layout),
    or the checkpoint itself when it is a bare state dict."""
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise BenchError(f"weights file {path} holds no state dict (expected a 'model' entry, as in "
                         f"{CHECKPOINT.name}); is it the right file?")
    return state


def tower_state(state: Mapping[str, torch.Tensor], network: MSClap, path: Path) -> dict[str, torch.Tensor]:
    """The entries of ``state`` that ``network``'s towers hold, under the checkpoint's names;
    a key that belongs to no part of MS-CLAP 2022 is refused, naming it."""
    cleaned = {}
    for key, value in state.items():
        key = key.removeprefix(WRAPPER_PREFIX)
        if not key.endswith(LEGACY_BUFFERS):
            cleaned[key] = value
    known = {*TOWERS.values(), "logit_scale"}
    foreign = [key for key in cleaned if key.split(".")[0] not in known]
    if foreign:
        more = " ..." if len(foreign) > 3 else ""
        raise BenchError(f"weights file {path} holds keys that no MS-CLAP 2022 model has ({', '.join(foreign[:3])}{more}); "
                         "is it the right file?")
    own = {name for name, _ in network.named_children()} | {name for name, _ in network.named_parameters(recurse=False)}
    return {key: value for key, value in cleaned.items() if key.split(".")[0] in own}


def load_towers(network: MSClap, path: Path) -> None:
    """Load ``network``'s towers from the checkpoint at ``path``, strictly (see the module docstring)."""
    state = tower_state(model_state(load_checkpoint(path), path), network, path)
    load_state(network, state, path, strip=())

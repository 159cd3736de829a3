"""Stand-ins for what LAION-CLAP's tests cannot download: a roberta-base-sized BPE
vocabulary and a checkpoint laid out as the published one (served by
:func:`benchmark.testing.serve_directory`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def byte_characters() -> list[str]:
    """GPT-2's printable stand-in character for each byte, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_vocabulary(directory: Path, size: int = 50265) -> tuple[Path, Path]:
    """``roberta-base-vocab.json`` and ``roberta-base-merges.txt`` of a byte-level BPE with
    ``size`` (at least 262) entries (specials, the 256 bytes, pair merges, ``<mask>``), named
    as the plugin names roberta-base's files."""
    chars = byte_characters()
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{c: 4 + i for i, c in enumerate(chars)}}
    merges = []
    for a in chars:
        for b in chars:
            if len(vocab) >= size - 1:
                break
            vocab[a + b] = len(vocab)
            merges.append(f"{a} {b}")
    vocab["<mask>"] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "roberta-base-vocab.json", directory / "roberta-base-merges.txt"
    paths[0].write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    paths[1].write_text("".join(f"{m}\n" for m in ["#version: 0.2", *merges]), encoding="utf-8")
    return paths


def published_layout(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """A state dict as 630k-audioset-best.pt holds it: under ``state_dict``, every key with
    DataParallel's ``module.`` prefix, plus RoBERTa's old ``position_ids`` buffer."""
    saved = {f"module.{k}": v for k, v in state.items()}
    if any(k.startswith("text_branch.") for k in state):
        saved["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    return {"epoch": 45, "state_dict": saved}

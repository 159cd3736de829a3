"""Stand-ins for what LAION-CLAP's tests cannot download: a roberta-base-sized BPE
vocabulary, a checkpoint laid out as the published one, and a local HTTP server to fetch
them from (127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

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


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve the files in ``root`` on 127.0.0.1 for the block; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

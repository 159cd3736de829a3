"""Pretrained weight files: found in a weights directory, or downloaded once and verified.

An expert names its files as :class:`WeightFile` records (official URL and checksum).
:func:`fetch_weights` looks in the weights directory first (``$BENCH_WEIGHTS_DIR``, else
``$BENCH_HOME/weights``), so an offline machine works once the files are copied there;
otherwise it downloads and verifies them (:mod:`benchmark.download`).
:func:`load_checkpoint` reads checkpoints with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from benchmark import download
from benchmark.download import RemoteFile, file_sha256, offline, verify
from benchmark.errors import BenchError
from benchmark.paths import home

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["WeightFile", "fetch_weights", "weights_dir", "file_sha256", "load_checkpoint", "load_failure", "load_state", "offline",
           "check_weights", "resolve", "weights_identity", "build_network", "verify"]

#: Values of an expert's ``weights`` option besides a path to a file.
PRETRAINED, RANDOM = "pretrained", "random"
#: Seed of the initialisation with ``weights: random`` (and under every loaded checkpoint).
RANDOM_SEED = 0

#: A weight file is a published file like any other.
WeightFile = RemoteFile


def weights_dir() -> Path:
    """``$BENCH_WEIGHTS_DIR``, else ``$BENCH_HOME/weights``."""
    return Path(os.environ.get("BENCH_WEIGHTS_DIR") or home() / "weights")


def fetch_weights(file: WeightFile) -> Path:
    """The verified local path of ``file``, downloading it into the weights directory if needed.

    ``$BENCH_WEIGHTS_MIRROR`` (a base URL holding the files by name) replaces the official
    host, for mirrors and tests. Processes asking at once (``torchrun`` ranks) download the
    file once: the others wait for it (:func:`benchmark.download.fetch`).
    """
    return download.fetch(
        file,
        weights_dir() / file.name,
        url=download.mirror_url("BENCH_WEIGHTS_MIRROR", file.name),
        what="weights file",
        hint=" (set BENCH_WEIGHTS_DIR to use another directory), or run with --expert-weights random",
    )


def load_checkpoint(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; numpy arrays (common in older checkpoints)
    are allowed through torch's safe-globals list, nothing else. Files in torch's zip format
    are memory-mapped, so a multi-GB checkpoint (CLAP's carry their optimiser state) costs
    the memory of the tensors used, not of the file."""
    import numpy as np
    import torch

    try:
        from numpy._core import multiarray  # numpy 2
        multiarray._reconstruct
    except (ImportError, AttributeError):  # numpy 1, whose _core (if any) is a shim
        from numpy.core import multiarray
    safe: list[Any] = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    safe += [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct"), (multiarray.scalar, "numpy.core.multiarray.scalar")]
    safe += [type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8", "u1")]
    try:
        with torch.serialization.safe_globals(safe):
            zipped = zipfile.is_zipfile(path)  # torch's format since 1.6; older files cannot be mapped
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except Exception as exc:  # unpickling errors come in many types
        raise BenchError(f"cannot load weights file {path} ({load_failure(exc)}); delete it and download it "
                         "again") from None


def load_failure(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words: the
    pickled class it would have had to import, or the first line of the error. torch's
    own advice (load with ``weights_only=False``) is left out: that runs the file's code."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    # torch <= 2.12: "Unsupported global: GLOBAL x.y"; 2.13: "unsupported GLOBAL x.y whose module x is blocked"
    found = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", text)
    if found:
        return f"it holds a pickled {found.group(1)}, and bench loads only tensors and plain data, never code"
    if "weights_only" in text or "Weights only" in text:  # a refusal whose wording bench does not know
        return "it holds pickled objects beyond tensors and plain data, which bench never loads"
    first = (text.strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"{first}: it is truncated, corrupt or not a PyTorch checkpoint"


def load_state(module: Any, state: dict[str, Any], path: Path, strip: tuple[str, ...] = ("module.",)) -> None:
    """Load ``state`` into ``module`` strictly, after removing key prefixes in ``strip``;
    a mismatch names the file and the first missing or unexpected keys."""
    cleaned = {}
    for key, value in state.items():
        for prefix in strip:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    expected = module.state_dict()
    missing = [k for k in expected if k not in cleaned]
    unexpected = [k for k in cleaned if k not in expected]
    wrong = [k for k in expected if k in cleaned and tuple(cleaned[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise BenchError(f"weights file {path} does not fit {type(module).__name__} ({detail}); is it the right file?")
    module.load_state_dict(cleaned)


def check_weights(weights: str) -> str:
    """A ``weights`` option as given, refused at once when it names a file that does not
    exist, so that a plugin can stop a typo before any work rather than at first use."""
    if weights not in (PRETRAINED, RANDOM) and not Path(weights).expanduser().is_file():
        raise BenchError(f"weights file {Path(weights).expanduser()} does not exist "
                         "(weights: pretrained, random or a file path)")
    return weights


def resolve(weights: str, files: dict[str, WeightFile]) -> dict[str, Path] | None:
    """Paths for an expert's ``weights`` option: ``pretrained`` fetches ``files``, ``random``
    returns None, anything else is a path to the (single) file, used as it is."""
    if weights == RANDOM:
        return None
    if weights == PRETRAINED:
        return {role: fetch_weights(file) for role, file in files.items()}
    path = Path(check_weights(weights)).expanduser()
    if len(files) != 1:
        raise BenchError(f"needs {len(files)} weight files ({', '.join(f.name for f in files.values())}); "
                         f"put them in {weights_dir()} and use weights: pretrained")
    return {next(iter(files)): path}


def weights_identity(weights: str, files: dict[str, WeightFile]) -> dict[str, Any]:
    """What a ``weights`` option stands for, as settings (hence cache keys and results) record
    it: the random seed, each published file's name and checksum, or the given file's sha256."""
    if weights == RANDOM:
        return {"random": RANDOM_SEED}
    if weights == PRETRAINED:
        return {role: [file.name, file.expected()] for role, file in files.items()}
    return {"file": file_sha256(Path(weights).expanduser())}


def build_network(
    weights: str, files: dict[str, WeightFile], build: Callable[[], torch.nn.Module],
    load: Callable[[torch.nn.Module, dict[str, Path]], None],
) -> torch.nn.Module:
    """The network a ``weights`` option names: its files fetched first (a missing one fails
    before any building), ``build()`` under :data:`RANDOM_SEED` (so ``random`` weights are
    the same in every process), then ``load(network, paths)`` unless the weights are random."""
    import torch

    paths = resolve(weights, files)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        network = build()
    if paths is not None:
        load(network, paths)
    return network

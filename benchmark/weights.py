"""Pretrained weight files: found in a weights directory, or downloaded once and verified.

An expert names its files as :class:`WeightFile` records (official URL and checksum).
:func:`fetch` looks in the weights directory first (``$BENCH_WEIGHTS_DIR``, else
``$BENCH_HOME/weights``), so an offline machine works once the files are copied there;
otherwise it downloads, resuming a partial ``.part`` file, and moves the file into place
only after its checksum matches. A verified file gets a small ``.verified`` record so the
checksum is not recomputed on every run. :func:`load_checkpoint` reads checkpoints with
``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError
from benchmark.io import write_json
from benchmark.paths import home

#: Values of an expert's ``weights`` option besides a path to a file.
PRETRAINED, RANDOM = "pretrained", "random"


@dataclass(frozen=True)
class WeightFile:
    """One downloadable file. ``sha256``/``md5`` are the published checksums; where upstream
    publishes only a prefix (torch.hub file names carry the first hex digits of the
    SHA-256), ``sha256_prefix`` holds it. With none of the three, the SHA-256 of the first
    verified copy is recorded and every later use is checked against it."""

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    sha256_prefix: str | None = None

    def expected(self) -> str:
        """The checksum in words, for messages."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5}"
        if self.sha256_prefix:
            return f"sha256 starting {self.sha256_prefix}"
        return "no published checksum (sha256 recorded on first use)"


def weights_dir() -> Path:
    """``$BENCH_WEIGHTS_DIR``, else ``$BENCH_HOME/weights``."""
    return Path(os.environ.get("BENCH_WEIGHTS_DIR") or home() / "weights")


def offline() -> bool:
    """True when downloads must not be tried (``BENCH_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes"} for v in ("BENCH_OFFLINE", "HF_HUB_OFFLINE"))


def digests(path: Path) -> dict[str, str]:
    """SHA-256 and MD5 of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per content stamp (size, mtime) in this process:
    cache keys ask for it once per split."""
    stat = Path(path).stat()
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return digests(Path(path))["sha256"]


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def verify(file: WeightFile, path: Path) -> None:
    """Raise unless ``path`` matches ``file``'s checksum; cache the verdict beside the file."""
    record_path = _record_path(path)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        record = {}
    if record.get("stamp") == _stamp(path) and record.get("expected") == file.expected():
        return
    found = digests(path)
    recorded = record.get("sha256") if not (file.sha256 or file.md5 or file.sha256_prefix) else None
    ok = (
        (file.sha256 is None or found["sha256"] == file.sha256)
        and (file.md5 is None or found["md5"] == file.md5)
        and (file.sha256_prefix is None or found["sha256"].startswith(file.sha256_prefix))
        and (recorded is None or found["sha256"] == recorded)
    )
    if not ok:
        want = file.expected() if recorded is None else f"sha256 {recorded} (recorded at first use)"
        raise BenchError(
            f"weights file {path} fails its checksum (expected {want}, got sha256 {found['sha256']}, "
            f"md5 {found['md5']}): it is truncated or not the published file; delete it and download "
            f"it again from {file.url}"
        )
    write_json(record_path, {"expected": file.expected(), "stamp": _stamp(path), **found})


def _download(file: WeightFile, target: Path, url: str) -> None:
    """Fetch ``url`` into ``target``, resuming ``target.part``; verify before moving into place."""
    from tqdm import tqdm

    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise
    if response is not None:
        with response:
            if have and response.status != 206:  # the server ignored the range: start over
                have = 0
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if have else "wb") as out, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=f"downloading {file.name}", leave=False
            ) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    try:
        verify(file, part)
    except BenchError as exc:
        part.unlink(missing_ok=True)
        _record_path(part).unlink(missing_ok=True)
        raise BenchError(f"download of {file.name} from {url} failed verification and was deleted: {exc}") from None
    os.replace(_record_path(part), _record_path(target))
    os.replace(part, target)


def fetch(file: WeightFile, expert: str) -> Path:
    """The verified local path of ``file``, downloading it into the weights directory if needed.

    ``$BENCH_WEIGHTS_MIRROR`` (a base URL) replaces the official host, for mirrors and tests.
    """
    directory = weights_dir()
    target = directory / file.name
    if target.exists():
        verify(file, target)
        return target
    mirror = os.environ.get("BENCH_WEIGHTS_MIRROR")
    url = mirror.rstrip("/") + "/" + file.name if mirror else file.url
    where = (
        f"download it from {file.url} ({file.expected()}) and put it at {target} "
        f"(set BENCH_WEIGHTS_DIR to use another directory), or run with --expert-weights random"
    )
    if offline():
        raise BenchError(f"expert {expert!r} needs the weights file {file.name}, which is not in {directory}; {where}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _download(file, target, url)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise BenchError(f"expert {expert!r} could not download {file.name} from {url} ({reason}); {where}") from None
    return target


def load_checkpoint(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; numpy arrays (common in older checkpoints)
    are allowed through torch's safe-globals list, nothing else."""
    import numpy as np
    import torch

    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    safe: list[Any] = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    safe += [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct"), (multiarray.scalar, "numpy.core.multiarray.scalar")]
    safe += [type(np.dtype(t)) for t in ("f4", "f8", "i4", "i8", "u1")]
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise BenchError(f"cannot load weights file {path} ({reason}); it is truncated, corrupt, not a PyTorch "
                         "checkpoint or holds pickled code: delete it and download it again") from None


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


def resolve(weights: str, files: dict[str, WeightFile], expert: str) -> dict[str, Path] | None:
    """Paths for an expert's ``weights`` option: ``pretrained`` fetches ``files``, ``random``
    returns None, anything else is a path to the (single) file, used as it is."""
    if weights == RANDOM:
        return None
    if weights == PRETRAINED:
        return {role: fetch(file, expert) for role, file in files.items()}
    path = Path(weights).expanduser()
    if not path.is_file():
        raise BenchError(f"expert {expert!r}: weights file {path} does not exist (weights: pretrained, random or a file path)")
    if len(files) != 1:
        raise BenchError(f"expert {expert!r} needs {len(files)} weight files ({', '.join(f.name for f in files.values())}); "
                         f"put them in {weights_dir()} and use weights: pretrained")
    return {next(iter(files)): path}

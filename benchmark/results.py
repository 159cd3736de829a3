"""Result files: one JSON per (dataset, system, seed), written atomically, never overwritten
silently. Their layout is ``<results>/<dataset>/<system>/seed-<N>.json``; the leaderboard
is generated from them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchmark.errors import BenchError, first_problem

if TYPE_CHECKING:
    from benchmark.data import Split
    from benchmark.features import Features
    from benchmark.plan import Plan, RunOptions
    from benchmark.queries import QueryRecord
    from benchmark.train import Selected, Trainer

SCHEMA = 1
PACKAGES = ("audio-retrieval-bench", "torch", "numpy", "sentence-transformers", "transformers", "pluggy")


def result_path(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    return results_dir / dataset / system / f"seed-{seed}.json"


def run_dir(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    """Checkpoints and training history of one run, beside its result file."""
    return results_dir / dataset / system / f"seed-{seed}.run"


def discard_run_dir(state_dir: Path) -> None:
    """Delete an earlier run's checkpoints for ``--force``; never through a symbolic link,
    whose target may hold anything."""
    if state_dir.is_symlink():
        raise BenchError(
            f"run directory {state_dir} is a symbolic link (to {state_dir.readlink()}); --force does not delete "
            "through links: remove the link, or empty its target yourself, and run again"
        )
    if state_dir.exists():
        shutil.rmtree(state_dir)


class Claimed(BenchError):
    """Another live process is producing this result."""


@contextlib.contextmanager
def claim(result: Path) -> Iterator[None]:
    """Own the run behind ``result`` for the block: ``<result>.claim`` is created exclusively
    (``O_EXCL``, atomic on local and NFS filesystems), so two processes never train the same
    result at once. A claim left by a killed process on this host is taken over; a live
    one raises :class:`Claimed` naming its holder. The claim is removed when the block ends."""
    from benchmark.io import create_exclusive, holder_alive

    path = result.with_name(result.name + ".claim")
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = create_exclusive(path)
    if not mine and not holder_alive(path):  # its owner was killed: take the claim over
        path.unlink(missing_ok=True)
        mine = create_exclusive(path)
    if not mine:
        who = "another process"
        for _ in range(20):  # the holder writes its pid just after creating the file
            try:
                holder = json.loads(path.read_text())
                who = f"process {holder.get('pid')} on {holder.get('host')}"
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        raise Claimed(
            f"result {result} is being produced by {who} (claim {path}); wait for it to finish, "
            "or delete the claim file if that process is gone"
        )
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def environment() -> dict[str, Any]:
    """Package versions and the git commit, so a number can be traced to the code behind it."""
    import importlib.metadata

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions, "git_commit": git_commit()}


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, with ``+dirty`` for local changes
    to tracked files other than the leaderboard and its record (data, not code)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":!/leaderboard"],
            cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


#: Text-to-audio scores every result carries, by their DCASE names.
COLUMNS = ("R@1", "R@5", "R@10", "mAP@10")


class Result(BaseModel):
    """One run's record: what ran on what data, its scores, and the evidence behind them
    (resolved configuration, dataset source, checkpoint choice, history, timings, versions).

    :func:`write` and :func:`read` are its only writer and reader. Keys this version does
    not know are kept, so a newer file still loads and is written back whole.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_version: Literal[1] = Field(SCHEMA, alias="schema")
    system: str
    dataset: str
    dataset_name: str = ""
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    dataset_source: dict[str, Any] = Field(default_factory=dict)
    protocol: dict[str, str] = Field(default_factory=dict)
    seed: int
    config: dict[str, Any] = Field(default_factory=dict)
    overrides: list[str] = Field(default_factory=list)
    expert_weights: str = "as configured"
    experts: dict[str, Any] = Field(default_factory=dict)
    batch_size_used: Optional[int] = None
    world_size: int = 1
    device: str = ""
    #: ``--device`` as asked (``auto``, ``cpu``, ``cuda``) and whether ``auto`` found no GPU
    #: and fell back to the CPU (and its ``cpu_overrides``); absent from older files.
    device_requested: Optional[str] = None
    device_fallback: Optional[bool] = None
    text_encoder: dict[str, Any] = Field(default_factory=dict)
    #: ``text_to_audio`` (R@1, R@5, R@10, mAP@10) and ``audio_to_text`` (R@k).
    metrics: dict[str, dict[str, float]]
    chance: dict[str, float] = Field(default_factory=dict)
    n_clips: dict[str, int] = Field(default_factory=dict)
    n_test_captions: int = 0
    #: The metric convention of ``metrics`` (:mod:`benchmark.conventions`), 95% bootstrap
    #: intervals of its text-to-audio metrics (clips resampled 1,000 times, seed 0), and the
    #: per-query record beside this file (``file``) with the test split it belongs to; all
    #: absent from older files, which were scored as ``dcase2022`` is.
    convention: Optional[str] = None
    intervals: Optional[dict[str, list[float]]] = None
    queries: Optional[dict[str, Any]] = None
    #: Which clips the record keeps as relevant to a caption besides its own: those of
    #: identical captions, the dataset's judgements (:class:`benchmark.queries.Relevance`).
    relevance: Optional[dict[str, bool]] = None
    checkpoint: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, float]] = Field(default_factory=list)
    #: What the loss derived from the training data (its ``evidence()``: the ranking loss's
    #: CIDEr thresholds and whether they are exact or sampled, with the bound); absent from
    #: older files, zero-shot runs and losses without it.
    loss_evidence: Optional[dict[str, Any]] = None
    pretrain: Optional[dict[str, Any]] = None
    timings_s: dict[str, Union[int, float]] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    #: The settings that decide whether the run repeats bit for bit (:func:`determinism_settings`);
    #: absent from older files.
    determinism: Optional[dict[str, Any]] = None
    #: For predictions scored by ``bench score`` rather than a run of bench: the file, its
    #: sha256 and format; absent from bench's own runs.
    external: Optional[dict[str, Any]] = None
    created: str = ""

    @model_validator(mode="after")
    def _scored(self) -> Result:
        """A result scored as DCASE 2022 (every bench run) carries its four columns; one
        scored under another convention carries that convention's metrics."""
        from benchmark.conventions import CONVENTIONS, DEFAULT

        name = self.convention or DEFAULT
        if name not in CONVENTIONS:
            raise ValueError(f"unknown metric convention {name!r}")
        wanted = COLUMNS if name == DEFAULT else CONVENTIONS[name].metrics
        missing = [c for c in wanted if c not in self.metrics.get("text_to_audio", {})]
        if missing:
            raise ValueError(f"metrics: text_to_audio lacks {', '.join(missing)}")
        return self

    @property
    def text_to_audio(self) -> dict[str, float]:
        return self.metrics["text_to_audio"]

    def to_json(self) -> dict[str, Any]:
        """The file's content: keys in the order above, ``pretrain`` only when there was one and
        the keys older files lack only when known, so an older file is written back as it was."""
        absent = {name for name in OPTIONAL if getattr(self, name) is None}
        return self.model_dump(mode="json", by_alias=True, exclude=absent or None)


#: Keys a result file may lack: no pre-training, or written before the key existed.
OPTIONAL = ("pretrain", "device_requested", "device_fallback", "determinism", "convention", "intervals", "queries",
            "relevance", "loss_evidence", "external")


def determinism_settings() -> dict[str, Any]:
    """What decides whether a run repeats bit for bit on its hardware: deterministic
    algorithms, cuDNN's choice of kernels, TF32 arithmetic, cuBLAS's workspace, the torch
    version and the number of CPU threads."""
    import os

    import torch

    return {
        "torch": torch.__version__,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def queries_path(path: Path) -> Path:
    """Where the per-query record of the result at ``path`` is: ``seed-0.queries.npz``."""
    return path.with_name(f"{path.stem}.queries.npz")


def write(path: Path, result: Result, queries: QueryRecord | None = None) -> None:
    """Write ``result`` to ``path`` atomically, after its per-query record ``queries``, bound
    to it (so a result never names a record that is not there, and a record is never read
    as another run's)."""
    from benchmark.io import write_json

    content = result.to_json()
    if queries is not None:
        queries.bound(result.seed, content["config"]).write(queries_path(path))
    write_json(path, content)


def read(path: Path) -> Result:
    """The result file at ``path``; one that is cut short, not JSON or not a bench result
    (missing a key the leaderboard and re-runs read) raises a line naming it."""
    from pydantic import ValidationError

    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{path} is a directory, not a result file: name one of its result files (seed-N.json)")
    if not path.exists():
        raise BenchError(f"result file {path} does not exist")
    try:
        return Result.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # JSON, UTF-8 and schema errors are ValueErrors
        if isinstance(exc, ValidationError):
            _, where, message = first_problem(exc)
            reason = f"{where}: {message}" if where else message
        else:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BenchError(
            f"result file {path} is not a readable bench result ({reason}); move it aside, "
            "or re-run its bench run with --force to replace it"
        ) from None


#: What a zero-shot result's checkpoint says.
ZERO_SHOT = "zero-shot: nothing trained (schedule.epochs 0); the pretrained parts are scored as they are"


def record(options: RunOptions, run: Plan, features: Features, outcome: tuple[Trainer | None, Selected | None, dict[str, Any]],
           splits: dict[str, Split]) -> Result:
    """The result of a finished run (its timings and pre-training are added by the caller);
    a zero-shot run has no trainer and no selected checkpoint."""
    from benchmark.conventions import DEFAULT
    from benchmark.plan import auto_fell_back

    trainer, selected, scores = outcome
    dataset = run.dataset
    device = trainer.device if trainer else features.device
    return Result(
        system=options.system, dataset=dataset.key, dataset_name=dataset.name,
        dataset_options=dataset.plugin.options(), dataset_source=dataset.plugin.source(),
        protocol={"name": dataset.plugin.protocol_name, **dataset.plugin.protocol}, seed=options.seed,
        config=run.config, overrides=list(options.overrides), expert_weights=options.expert_weights or "as configured",
        experts=features.settings(), batch_size_used=trainer.batch_size if trainer else None,
        world_size=features.context.world_size, device=str(device), device_requested=options.device,
        device_fallback=auto_fell_back(options.device, device.type),
        text_encoder=features.text_encoder.settings(),
        metrics={"text_to_audio": scores["text_to_audio"], "audio_to_text": scores["audio_to_text"]},
        chance=scores["chance"], n_clips={role: len(split) for role, split in splits.items()},
        n_test_captions=scores["n_captions"], convention=DEFAULT, intervals=scores["intervals"],
        queries={"file": queries_path(run.result).name, "split": scores["queries"].split},
        relevance=scores["relevance"],
        checkpoint={
            "epoch": selected.epoch, "selected_by": selected.monitor, "value": selected.value,
            "rule": f"best {selected.monitor} on the {dataset.plugin.protocol['validation']} split",
            "resumed_from_epoch": trainer.resumed_from, "path": str(selected.path),
        } if selected else {"epoch": 0, "zero_shot": True, "rule": ZERO_SHOT},
        history=trainer.history if trainer else [], environment=environment(), determinism=determinism_settings(),
        loss_evidence=trainer.loss_evidence if trainer else None,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def iter_results(results_dir: Path) -> Iterator[tuple[Path, Result]]:
    """Every result file under ``results_dir``; unreadable ones raise naming the file."""
    for path in sorted(results_dir.glob("*/*/seed-*.json")):
        yield path, read(path)

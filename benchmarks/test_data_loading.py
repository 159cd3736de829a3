"""Do the data loaders keep up? Clips per second of each loader on the synthetic dataset, and
the share of a training step spent waiting on data.

    pytest benchmarks/test_data_loading.py --benchmark-enable --benchmark-group-by=group -s

One real run of ``cider_relax`` (log-mel expert, CPU setup: batch 128, 16 steps per epoch,
3 epochs) on the default synthetic dataset (1,000 / 200 / 200 clips) fills a fresh
``BENCH_HOME``; the trainer records, per epoch, the share of the training steps spent
assembling batches (``data_share`` in the history). Then, with pytest-benchmark:

- the batch loader: a batch of 128 clips from the memory-mapped feature cache (padded
  expert frames plus caption embeddings), the training loop's only data source;
- the audio loader: decoding and resampling clips from disk, the input of expert
  extraction.

Clips per second are in each benchmark's ``extra_info`` and printed.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.audio import load_audio

LOGMEL = ["experts=[{name: logmel, frame_rate: 2.0}]", "schedule.epochs=3"]
BATCH = 128


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from benchmark.plan import RunOptions
    from benchmark.runner import run

    home = tmp_path_factory.mktemp("bench-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("BENCH_HOME", str(home))
    patch.setenv("HF_HUB_OFFLINE", "1")
    _, result = run(RunOptions("cider_relax", "synthetic", output=home / "results", overrides=LOGMEL), log=lambda m: None)
    yield home, result
    patch.undo()


@pytest.fixture(scope="module")
def inputs(run):
    """The run's training inputs, read back from the cache (nothing is recomputed)."""
    import torch

    from benchmark.data import open_dataset
    from benchmark.features import Features
    from benchmark.plugins import get_plugin_manager

    home, result = run
    manager = get_plugin_manager()
    dataset = open_dataset(manager, "synthetic", {}, home / "datasets")
    split = dataset.split("train")
    features = Features(result.config, manager, torch.device("cpu"), home / "cache")
    return features.inputs(dataset.storage_key, split), split


@pytest.mark.benchmark(group="data loading")
def test_training_batch_loader(benchmark, run, inputs):
    import torch

    data, _ = inputs
    rng = np.random.default_rng(0)
    device = torch.device("cpu")

    def load():
        indices = rng.choice(len(data), size=BATCH, replace=False)
        return data.audio_batch(indices, device), data.text_batch(indices, device)

    benchmark(load)
    shares = [h["data_share"] for h in run[1].history]
    benchmark.extra_info["clips_per_s"] = BATCH / benchmark.stats.stats.mean
    benchmark.extra_info["data_share_per_epoch"] = shares
    print(f"\nbatch loader: {BATCH / benchmark.stats.stats.mean:,.0f} clips/s; share of training steps waiting "
          f"on data per epoch: {', '.join(f'{s:.2%}' for s in shares)} (train step mean "
          f"{run[1].timings_s['train'] / 3:.1f} s per epoch incl. validation)")


@pytest.mark.benchmark(group="data loading")
@pytest.mark.parametrize("rate", [16000, 48000])  # as stored; resampled for OpenL3
def test_audio_loader(benchmark, inputs, rate):
    _, split = inputs
    paths = split.audio_paths[:64]

    benchmark.pedantic(lambda: [load_audio(p, rate) for p in paths], rounds=3, iterations=1)
    clips_per_s = len(paths) / benchmark.stats.stats.mean
    benchmark.extra_info["clips_per_s"] = clips_per_s
    print(f"\naudio loader (decode, 16 kHz → {rate // 1000} kHz, 3–6 s clips): {clips_per_s:,.0f} clips/s")

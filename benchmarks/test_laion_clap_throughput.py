"""Audio extraction throughput of bench's LAION-CLAP expert beside the package's own
entry point, ``CLAP_Module.get_audio_embedding_from_filelist``, on the same files and weights.

The package cannot be imported beside bench's pinned torch, so this runs in the scratch
environment of ``benchmarks/verify_laion_clap.py`` (laion-clap 1.1.7, torch 2.13 CPU, with
pytest-benchmark installed there)::

    /tmp/clapenv/bin/python -m pytest benchmarks/test_laion_clap_throughput.py \
        --benchmark-enable --benchmark-group-by=group -p no:cacheprovider -s

Input: four Clotho-like 44.1 kHz mono WAV files of 10 s, read from disk by both sides: the
package embeds one 10 s window of a file (a random crop of a longer one), so files of
exactly one window compare like with like. Both sides decode and resample to 48 kHz
(librosa's soxr_hq for the package, libsoxr's VHQ for bench), quantise to int16 and run
HTSAT-tiny on the four windows at once, with the package's random weights (seeded) loaded
into bench's expert. Throughput is seconds of audio per second of wall time
(``extra_info``), on the CPU with torch's default threads; the frames of both sides must
agree to cosine 0.999 (they differ by the resampling filters only).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import verify_laion_clap as verify  # noqa: E402  (sets up bench's paths and the offline stand-ins)

RATE, SECONDS, FILES = 44100, 10.0, 4
OURS: list[np.ndarray] = []


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The package's model (seeded random weights), bench's expert loaded with the same
    weights, and the files."""
    if importlib.util.find_spec("laion_clap") is None:  # bench's own environment: it cannot be installed there
        raise RuntimeError("laion-clap is not installed here: run this file with its scratch environment's python "
                           "(see the module docstring)")
    scratch = tmp_path_factory.mktemp("laion-clap")
    os.environ.update({"BENCH_HOME": str(scratch / "home"), "BENCH_WEIGHTS_DIR": str(scratch), "BENCH_OFFLINE": "1"})
    clap = verify.package_model(*verify.write_vocabulary(scratch))
    checkpoint = scratch / "package-random.pt"
    verify.save_checkpoint(clap, checkpoint)
    from bench_laion_clap.expert import LaionClap

    from benchmark.testing import clotho_like_files

    expert = LaionClap(weights=str(checkpoint), precision="float32")
    return clap, expert, [str(p) for p in clotho_like_files(scratch, [SECONDS] * FILES, RATE)]


def record(benchmark, label: str) -> None:
    seconds = FILES * SECONDS
    benchmark.extra_info["audio_seconds_per_second"] = round(seconds / benchmark.stats.stats.mean, 2)
    print(f"\n{label}: {seconds / benchmark.stats.stats.mean:.2f} s of audio per s")


@pytest.mark.benchmark(group="laion_clap")
def test_bench_expert(benchmark, setup):
    from benchmark.audio import load_audio

    _, expert, paths = setup
    expert.embed([load_audio(Path(p), expert.sample_rate) for p in paths])  # builds the network once
    frames = benchmark.pedantic(lambda: expert.embed([load_audio(Path(p), expert.sample_rate) for p in paths]),
                                rounds=5, iterations=1)
    OURS[:] = frames
    record(benchmark, "bench laion_clap expert")


@pytest.mark.benchmark(group="laion_clap")
def test_package_get_audio_embedding_from_filelist(benchmark, setup):
    import torch

    from benchmark.audio import load_audio

    clap, expert, paths = setup
    with torch.no_grad():
        clap.get_audio_embedding_from_filelist(paths)
        theirs = benchmark.pedantic(lambda: clap.get_audio_embedding_from_filelist(paths), rounds=5, iterations=1)
    record(benchmark, "laion_clap CLAP_Module.get_audio_embedding_from_filelist")
    if not OURS:
        OURS[:] = expert.embed([load_audio(Path(p), expert.sample_rate) for p in paths])
    cosines = [float(verify.cosine(ours[0], reference)) for ours, reference in zip(OURS, theirs)]
    print(f"cosine of bench's frames to the package's: {min(cosines):.6f} (lowest of {len(cosines)})")
    assert min(cosines) >= 0.999

"""Audio embedding throughput of the ``ms_clap`` expert beside msclap's own entry point, in
msclap's scratch environment (msclap does not import beside bench's pinned torch):

    /tmp/msclapenv/bin/python -m pytest benchmarks/test_ms_clap_throughput.py -p no:cacheprovider \
        --benchmark-enable --benchmark-group-by=group --benchmark-columns=mean,stddev,rounds

(the scratch environment needs pytest and pytest-benchmark; bench is taken from this checkout
through ``sys.path``). Both environments have torch 2.13.0+cpu; torch's default two threads.

Input: three Clotho-like files (44.1 kHz mono WAV of 15, 20 and 25 s) read from disk by
both sides, and the same (random, seeded) weights on both sides: msclap's 2022 ``CLAP``
built by benchmarks/verify_ms_clap.py, its audio tower loaded into the expert.

- ``msclap`` runs ``CLAPWrapper.get_audio_embeddings`` (torchaudio, broken there, replaced
  by soundfile for reading): one 5 s crop per file, at a random offset, and CNN14 in eager
  mode on the batch of the three crops. It embeds 15 of the 60 s.
- ``msclap_all_windows`` runs msclap's audio encoder on every window bench embeds (3 + 4 + 5
  = 12 windows of 5 s): the same work as ours, in msclap's eager module, all 12 at once.
- ``ours`` runs the expert on the three files: ``load_audio``, the windows, CNN14 traced and
  frozen, ``window_batch`` windows per batch (the last one filled with silence): 8 (the
  default: 16 windows computed for 12) and 4 (12 computed).

Each records clips/s, windows/s and seconds of audio embedded per second (``extra_info``);
``msclap_all_windows`` checks that its frames are ours (cosine >= 0.999).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks", ROOT / "plugins" / "experts" / "panns", ROOT / "plugins" / "experts" / "ms_clap"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import verify_ms_clap as verify  # noqa: E402  (msclap's model and wrapper, built as the verification builds them)
from benchmark.audio import load_audio  # noqa: E402

SECONDS = (15.0, 20.0, 25.0)
RATE = 44100
WINDOW = 5 * RATE
FRAMES: dict[str, list[np.ndarray]] = {}
EXPERTS: dict[int, object] = {}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from benchmark.testing import clotho_like_files

    return clotho_like_files(tmp_path_factory.mktemp("clotho-like"), SECONDS, RATE)


@pytest.fixture(scope="module")
def msclap(tmp_path_factory):
    """msclap's wrapper around its 2022 model with seeded random weights, and a checkpoint
    holding that model's audio tower for the expert."""
    try:
        clap, args = verify.package_model()
    except ImportError:
        raise RuntimeError("msclap is not installed here: run this file with msclap's scratch environment's python "
                           "(see the module docstring)") from None

    def read_audio(path, resample=True):  # torchaudio.load's (channels, samples) and rate, through soundfile
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        assert rate == args.sampling_rate
        return torch.from_numpy(data.T.copy()), rate

    wrapper = verify.package_wrapper(clap, args, read_audio)
    weights = tmp_path_factory.mktemp("weights") / "audio_tower.pth"
    torch.save({"model": {k: v for k, v in clap.state_dict().items() if k.startswith("audio_encoder.")}}, weights)
    return wrapper, weights


def windows_of(paths) -> list[np.ndarray]:
    from bench_ms_clap.windows import windows

    return [windows(load_audio(p, RATE), WINDOW) for p in paths]


def record(benchmark, windows: int, seconds: float) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update({"clips_per_second": len(SECONDS) / mean, "windows_per_second": windows / mean,
                                 "audio_seconds_embedded_per_second": seconds / mean})


def test_msclap(benchmark, files, msclap):
    benchmark.group = "ms_clap"
    wrapper, _ = msclap

    def run():
        return wrapper.get_audio_embeddings([str(p) for p in files], resample=False)

    run()
    benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, len(files), 5.0 * len(files))


def test_msclap_all_windows(benchmark, files, msclap):
    benchmark.group = "ms_clap"
    wrapper, _ = msclap

    def run():
        per_clip = windows_of(files)
        with torch.no_grad():
            out = wrapper._get_audio_embeddings(torch.from_numpy(np.concatenate(per_clip))[:, None, :]).numpy()
        return np.split(out, np.cumsum([len(w) for w in per_clip])[:-1])

    run()
    theirs = benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, sum(len(f) for f in theirs), sum(SECONDS))
    for ours, frames in zip(FRAMES["ours"], theirs):
        cosine = (ours * frames).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(frames, axis=1)
        assert ours.shape == frames.shape and cosine.min() >= 0.999


@pytest.fixture(scope="module", autouse=True)
def ours_first(files, msclap):
    """Our frames, for the comparison above (pytest runs this module's tests in file order,
    so ``test_ours`` is declared last and this fills the frames first)."""
    from bench_ms_clap.expert import MSClapExpert

    experts = {size: MSClapExpert(weights=str(msclap[1]), precision="float32", window_batch=size) for size in (4, 8)}
    FRAMES["ours"] = experts[8].embed([load_audio(p, RATE) for p in files])  # also builds and traces
    experts[4].embed([load_audio(files[0], RATE)])
    EXPERTS.update(experts)


@pytest.mark.parametrize("window_batch", [4, 8])
def test_ours(benchmark, files, window_batch):
    """The default ``window_batch`` (8) computes 16 windows here, 4 of them filling the last
    batch; 4 computes exactly the 12, in smaller batches."""
    benchmark.group = "ms_clap"
    expert = EXPERTS[window_batch]

    def run():
        return expert.embed([load_audio(p, RATE) for p in files])

    frames = benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, sum(len(f) for f in frames), sum(SECONDS))

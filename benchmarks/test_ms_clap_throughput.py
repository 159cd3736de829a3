"""Audio embedding throughput of the ``ms_clap`` expert beside msclap's own entry point, in
msclap's scratch environment (msclap does not import beside bench's pinned torch):

    /tmp/msclapenv/bin/python -m pytest benchmarks/test_ms_clap_throughput.py -p no:cacheprovider \
        --benchmark-enable --benchmark-group-by=group --benchmark-columns=mean,stddev,rounds

(the scratch environment needs pytest and pytest-benchmark; bench is taken from this checkout
through ``sys.path``). Both environments have torch 2.13.0+cpu; torch's default two threads.

Input: three Clotho-like files (44.1 kHz mono WAV of 15, 20 and 25 s) read from disk by
both sides, and the same (random, seeded) weights on both sides: msclap's 2022 ``CLAP``
built as benchmarks/verify_ms_clap.py builds it, its audio tower loaded into the expert.

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

import importlib
import importlib.machinery
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "plugins" / "experts" / "panns", ROOT / "plugins" / "experts" / "ms_clap"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmark.audio import load_audio  # noqa: E402

# numpy 1.26 (msclap's environment) defines numpy._core.multiarray only once it is imported,
# and bench's load_checkpoint looks it up as an attribute.
importlib.import_module("numpy._core.multiarray")

SECONDS = (15.0, 20.0, 25.0)
RATE = 44100
WINDOW = 5 * RATE
FRAMES: dict[str, list[np.ndarray]] = {}
EXPERTS: dict[int, object] = {}


def stub_torchaudio() -> None:
    """msclap imports torchaudio, which fails to load in its environment; nothing here uses it."""
    for name in ("torchaudio", "torchaudio.transforms"):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules.setdefault(name, module)
    sys.modules["torchaudio"].transforms = sys.modules["torchaudio.transforms"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clotho-like")
    rng = np.random.default_rng(0)
    paths = []
    for index, seconds in enumerate(SECONDS):
        t = np.arange(int(seconds * RATE)) / RATE
        audio = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
        audio += 0.05 * rng.standard_normal(len(t))
        path = directory / f"clip_{index}.wav"
        soundfile.write(path, audio.astype(np.float32), RATE, subtype="PCM_16")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def msclap(tmp_path_factory):
    """msclap's wrapper around its 2022 model with seeded random weights, and a checkpoint
    holding that model's audio tower for the expert."""
    stub_torchaudio()
    try:
        import msclap  # noqa: F401
    except ImportError:
        raise RuntimeError("msclap is not installed here: run this file with msclap's scratch environment's python "
                           "(see the module docstring)") from None
    import re

    import yaml
    from transformers import BertConfig, BertModel

    import msclap.models.clap as clap_module
    from msclap.CLAPWrapper import CLAPWrapper

    clap_module.AutoModel.from_pretrained = lambda name: BertModel(BertConfig())
    args = types.SimpleNamespace(**yaml.safe_load((Path(clap_module.__file__).parents[1] / "configs" / "config_2022.yml").read_text()))
    torch.manual_seed(0)
    clap = clap_module.CLAP(
        audioenc_name=args.audioenc_name, sample_rate=args.sampling_rate, window_size=args.window_size,
        hop_size=args.hop_size, mel_bins=args.mel_bins, fmin=args.fmin, fmax=args.fmax, classes_num=args.num_classes,
        out_emb=args.out_emb, text_model=args.text_model, transformer_embed_dim=args.transformer_embed_dim,
        d_proj=args.d_proj,
    ).eval()
    wrapper = CLAPWrapper.__new__(CLAPWrapper)
    wrapper.args, wrapper.clap, wrapper.use_cuda = args, clap, False
    wrapper.np_str_obj_array_pattern, wrapper.default_collate_err_msg_format = re.compile(r"[SaUO]"), "collate: {}"

    def read_audio(path, resample=True):  # torchaudio.load's (channels, samples) and rate, through soundfile
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        assert rate == args.sampling_rate
        return torch.from_numpy(data.T.copy()), rate

    wrapper.read_audio = read_audio
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

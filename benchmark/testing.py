"""The expert contract as tests: what an expert plugin package runs from its own tests.

An expert package keeps its tests in its own folder, ``plugins/experts/<name>/tests/`` for
the ones in this repository (pytest finds them there; see ``testpaths`` in
``pyproject.toml``). The folder has no ``__init__.py`` and its files are named
``test_<name>*.py``: pytest imports such files by their base name, so names must differ
between packages. One subclass of a contract below runs every check on the expert::

    from bench_openl3.expert import OpenL3
    from benchmark.testing import PretrainedExpertContract

    class TestOpenL3(PretrainedExpertContract):
        expert_class = OpenL3
        parameters, frame_rate, dim = 4_687_042, 2.0, 512  # report, Table 1
        bfloat16_on_auto = True

:class:`ExpertContract` holds for any expert (frame rate, dimension, dtype, finite frames
for short, silent and loud clips, the same frames for the same audio, settings that can
key the cache); :class:`PretrainedExpertContract` adds what
:class:`benchmark.pretrained.PretrainedExpert` promises (parameter count, the traced network
equal to the eager one, seeded random weights, the precision option). Pretrained experts
are tested with ``weights: random`` in float32, the precision the libraries compute in
(``auto`` may pick bfloat16), through :func:`shared_expert`, which builds each expert once
per test session.

This module imports pytest: import it from tests only.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pytest

from benchmark.api import Expert

_SHARED: dict[tuple[Any, str], Expert] = {}


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """``seconds`` of seeded Gaussian noise (standard deviation 0.1) at ``rate``, float32."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def clotho_like_files(directory: Path, seconds: Sequence[float], rate: int = 44100) -> list[Path]:
    """Mono 16-bit WAV files of ``seconds`` each at ``rate`` in ``directory``, seeded: a tone
    with a slow tremolo over noise, which is what the throughput benchmarks read from disk,
    the same files for an expert and for the library it is compared with."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    for index, length in enumerate(seconds):
        t = np.arange(int(length * rate)) / rate
        audio = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
        audio += 0.05 * rng.standard_normal(len(t))
        path = directory / f"clip_{index}.wav"
        sf.write(path, audio.astype(np.float32), rate, subtype="PCM_16")
        paths.append(path)
    return paths


def audio_folder(root: Path, seconds: dict[str, list[float]], rate: int = 16000) -> Path:
    """Real audio files in Clotho's layout under ``root``, for the ``folder`` dataset: for
    each split, one WAV of noise per entry of ``seconds[split]`` and a captions CSV with two
    captions per clip; ``bench run --dataset folder -D path=<root>`` reads them in place."""
    import soundfile as sf

    from benchmark.api import write_captions_csv

    for split, lengths in seconds.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        names = [f"{split}_{i}.wav" for i in range(len(lengths))]
        for i, (name, length) in enumerate(zip(names, lengths)):
            sf.write(root / split / name, noise(length, rate, seed=i), rate)
        captions = [(f"noise number {i} of the {split} split", f"a hiss lasting {length:g} seconds")
                    for i, length in enumerate(lengths)]
        write_captions_csv(root / f"clotho_captions_{split}.csv", names, captions)
    return root


class Served(list):
    """The paths a :func:`serve_directory` server was asked for, in order."""

    url: str = ""


@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[Served]:
    """The files in ``root`` over HTTP on 127.0.0.1 for the block, for tests of a plugin's
    downloads (``BENCH_WEIGHTS_MIRROR`` set to ``served.url``); the yielded list records every
    path requested."""
    import functools
    import http.server
    import threading

    served = Served()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            served.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def shared_expert(expert_class: Callable[..., Expert], **options: Any) -> Expert:
    """One instance of ``expert_class`` per ``options`` for the whole test session.

    A pretrained expert (``pretrained = True``) gets ``weights: random`` and ``precision:
    float32`` unless ``options`` say otherwise.
    """
    if getattr(expert_class, "pretrained", False):
        options = {"weights": "random", "precision": "float32", **options}
    key = (expert_class, json.dumps(options, sort_keys=True, default=repr))
    if key not in _SHARED:
        _SHARED[key] = expert_class(**options)
    return _SHARED[key]


class ExpertContract:
    """What every expert promises; subclass it as ``Test<Name>`` and set the attributes."""

    #: The expert's class (or factory), as its plugin registers it.
    expert_class: Callable[..., Expert]
    #: Options the tests create it with (a pretrained expert adds random weights, float32).
    options: dict[str, Any] = {}
    #: Frames per second on :attr:`seconds` of audio, to within :attr:`frame_rate_tolerance`.
    frame_rate: float
    frame_rate_tolerance: float = 0.06
    seconds: float = 20.0
    #: The frame dimension.
    dim: int

    @pytest.fixture(scope="class")
    @classmethod
    def expert(cls) -> Expert:
        return shared_expert(cls.expert_class, **cls.options)

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def sandbox(cls, tmp_path_factory: pytest.TempPathFactory):
        """No test touches the user's ``BENCH_HOME`` or the network."""
        patch = pytest.MonkeyPatch()
        patch.setenv("BENCH_HOME", str(tmp_path_factory.mktemp("bench-home")))
        patch.setenv("BENCH_OFFLINE", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield
        patch.undo()

    def test_frames_have_the_frame_rate_and_dimension(self, expert: Expert) -> None:
        assert isinstance(expert, Expert)
        (frames,) = expert.embed([noise(self.seconds, expert.sample_rate)])
        assert frames.dtype == np.float32, frames.dtype
        assert frames.ndim == 2 and frames.shape[1] == self.dim == expert.dim, (frames.shape, self.dim, expert.dim)
        assert frames.shape[0] / self.seconds == pytest.approx(self.frame_rate, abs=self.frame_rate_tolerance)

    def test_short_silent_and_loud_clips_give_finite_frames(self, expert: Expert) -> None:
        rate = expert.sample_rate
        clips = [np.zeros(1, np.float32), np.zeros(rate // 10, np.float32), np.zeros(2 * rate, np.float32), 4.0 * noise(1.5, rate)]
        outputs = expert.embed(clips)
        assert len(outputs) == len(clips)
        for frames in outputs:
            assert frames.shape[0] >= 1 and frames.shape[1] == expert.dim and np.isfinite(frames).all(), frames.shape

    def test_the_same_clips_give_the_same_frames(self, expert: Expert) -> None:
        clips = [noise(s, expert.sample_rate, seed=i) for i, s in enumerate((0.7, 2.3))]
        for first, second in zip(expert.embed(clips), expert.embed(clips)):
            np.testing.assert_array_equal(first, second)

    def test_settings_can_key_the_cache(self, expert: Expert) -> None:
        """The cache key holds ``settings()``: plain data, written as JSON, the same every call."""
        settings = expert.settings()
        assert isinstance(settings, dict)
        assert json.dumps(settings, sort_keys=True) == json.dumps(expert.settings(), sort_keys=True)


class PretrainedExpertContract(ExpertContract):
    """What an expert built on :class:`benchmark.pretrained.PretrainedExpert` promises besides."""

    #: Every parameter of the network (:func:`benchmark.pretrained.parameter_count`).
    parameters: int
    #: Whether ``precision: auto`` picks bfloat16 on a CPU with native bfloat16 (the class's
    #: ``auto_bfloat16``); where it does, bfloat16 frames must stay close to float32 ones.
    bfloat16_on_auto: bool
    #: Lowest per-frame cosine similarity of bfloat16 frames to float32 ones.
    bfloat16_cosine: float = 0.99
    #: Options under which bfloat16 is compared with float32 (e.g. raw, unquantised frames).
    bfloat16_options: dict[str, Any] = {}

    def test_it_is_pretrained_with_the_parameter_count(self, expert: Expert) -> None:
        from benchmark.pretrained import parameter_count

        assert expert.pretrained
        assert parameter_count(expert.network) == self.parameters

    def test_the_traced_network_gives_the_eager_networks_outputs(self, expert: Expert) -> None:
        import torch

        clips = [noise(s, expert.sample_rate, seed=i) for i, s in enumerate((0.01, 0.7, 3.3, 7.01))]
        traced = expert.embed(clips)
        with torch.inference_mode():
            eager = expert.frames(expert.inference_module(expert.network), clips)
        for a, b in zip(traced, eager):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-4 * max(1.0, float(np.abs(b).max())))

    def test_random_weights_are_seeded_and_recorded(self, expert: Expert) -> None:
        import torch

        assert expert.settings()["weights"] == {"random": 0}
        one, two = (self.expert_class(**{**self.options, "weights": "random"}).network.state_dict() for _ in range(2))
        assert list(one) == list(two)
        assert all(torch.equal(one[k], two[k]) for k in one), "two instances with weights: random differ"

    def test_bfloat16_frames_are_close_to_float32_and_recorded_in_the_settings(self, expert: Expert) -> None:
        # Every pretrained expert takes precision: bfloat16 when asked, whether or not auto picks it.
        options = {**self.options, "weights": "random", **self.bfloat16_options}
        reference = self.expert_class(**options, precision="float32") if self.bfloat16_options else expert
        candidate = self.expert_class(**options, precision="bfloat16")
        clips = [noise(s, candidate.sample_rate, seed=i) for i, s in enumerate((0.4, 1.7))]
        for ours, theirs in zip(candidate.embed(clips), reference.embed(clips)):
            assert ours.dtype == np.float32 and ours.shape == theirs.shape
            cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
            assert cosine.min() > self.bfloat16_cosine and not np.array_equal(ours, theirs)
        assert candidate.settings()["precision"] == "bfloat16" and reference.settings()["precision"] == "float32"

    def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it_and_the_expert_gains(self, monkeypatch) -> None:
        import benchmark.pretrained

        options = {**self.options, "weights": "random"}
        options.pop("precision", None)
        for native, expected in ((True, "bfloat16" if self.bfloat16_on_auto else "float32"), (False, "float32")):
            monkeypatch.setattr(benchmark.pretrained, "native_bfloat16", lambda: native)
            assert self.expert_class(**options).settings()["precision"] == expected
            assert self.expert_class(**options, device="cuda").settings()["precision"] == "float32"

    def test_an_unknown_precision_is_refused_naming_the_choices(self) -> None:
        from benchmark.errors import BenchError

        with pytest.raises(BenchError, match="precision.*'half'.*bfloat16"):
            self.expert_class(**{**self.options, "weights": "random", "precision": "half"})

    def test_a_missing_weights_file_is_named(self, tmp_path) -> None:
        from benchmark.errors import BenchError

        expert = self.expert_class(**{**self.options, "weights": str(tmp_path / "nope.pth")})
        with pytest.raises(BenchError, match="weights file .*nope.pth does not exist"):
            expert.embed([noise(1.0, expert.sample_rate)])

"""An embedded, procedurally generated audio-caption dataset in Clotho's layout.

Each clip holds one or two sound events (a bell, an engine, wind…) with attributes a
caption can mention: pitch, loudness, rhythm and, for two events, their order (one after
the other) or overlap. Five captions per clip are drawn from paraphrase templates with
synonyms, and each caption may leave attributes out, as human captions do. Because the
attribute space is small, different clips get near-identical captions ("a bell rings
repeatedly"), which is the situation the reference system's CIDEr relaxation is for.

Everything is deterministic from ``seed``: clip ``k`` of a split depends only on
``(seed, split, k)``, so growing a split keeps its first clips.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import BenchError, ClothoLayoutDataset, atomic_path, captions_csv, write_captions_csv, write_json

SPLITS = ("development", "validation", "evaluation")
PREPARED = ".prepared.json"


@dataclass(frozen=True)
class Source:
    """A kind of sound: how to synthesise it and how captions name it."""

    key: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    sustained: bool  # sustained sources are continuous or pulsing; impulsive ones strike once or repeatedly


SOURCES = (
    Source("bell", ("bell", "chime", "small bell"), ("rings", "chimes", "is struck"), False),
    Source("whistle", ("whistle", "flute-like tone", "whistling tone"), ("sounds", "plays", "is heard"), True),
    Source("engine", ("engine", "motor", "machine"), ("hums", "runs", "rumbles"), True),
    Source("wind", ("wind", "gust of air", "hissing noise"), ("blows", "hisses", "rushes"), True),
    Source("bird", ("bird", "songbird", "small bird"), ("chirps", "tweets", "sings"), False),
    Source("knock", ("knock", "tap", "wooden knock"), ("sounds", "is heard", "knocks"), False),
    Source("drum", ("drum", "bass drum", "deep thump"), ("beats", "booms", "is hit"), False),
    Source("siren", ("siren", "alarm", "wailing tone"), ("wails", "sounds", "howls"), True),
)

PITCH_WORDS = {"low": ("low", "deep", "low-pitched"), "high": ("high", "high-pitched", "shrill")}
LOUDNESS_WORDS = {"quiet": ("quiet", "soft", "faint"), "loud": ("loud", "strong", "powerful")}
RHYTHM_WORDS = {
    "single": ("once", "a single time", "just once"),
    "repeated": ("repeatedly", "several times", "over and over"),
    "continuous": ("continuously", "steadily", "without a pause"),
    "pulsing": ("in pulses", "on and off", "in short bursts"),
}
SEQUENCE_TEMPLATES = ("{a}, then {b}", "{a}, and after that {b}", "first {a} and afterwards {b}", "{a} before {b}")
OVERLAP_TEMPLATES = ("{a} while {b}", "{a} as {b} in the background", "{a} and at the same time {b}")


@dataclass(frozen=True)
class Event:
    source: Source
    pitch: str
    loudness: str
    rhythm: str


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def sample_event(rng: np.random.Generator) -> Event:
    source = SOURCES[int(rng.integers(len(SOURCES)))]
    rhythms = ("continuous", "pulsing") if source.sustained else ("single", "repeated")
    return Event(source, _choice(rng, ("low", "high")), _choice(rng, ("quiet", "loud")), _choice(rng, rhythms))


# --- sound -----------------------------------------------------------------------------


def _envelope(rhythm: str, n: int, rate: int, rng: np.random.Generator, impulsive: bool) -> np.ndarray:
    """Amplitude envelope: sustained, pulsing, one strike or repeated strikes."""
    t = np.arange(n) / rate
    if rhythm == "continuous":
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
        return fade
    if rhythm == "pulsing":
        period = rng.uniform(0.35, 0.6)
        return ((t % period) < period * 0.5).astype(float)
    decay = rng.uniform(8.0, 14.0) if impulsive else 4.0
    onsets = [rng.uniform(0.0, 0.2)] if rhythm == "single" else np.arange(rng.uniform(0, 0.1), t[-1], rng.uniform(0.25, 0.45))
    env = np.zeros(n)
    for onset in onsets:
        start = int(onset * rate)
        env[start:] += np.exp(-decay * (t[start:] - onset))
    return np.minimum(env, 1.0)


def _bandpass_noise(n: int, rate: int, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.abs(noise).max() + 1e-9)


def synthesise(event: Event, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One event of ``n`` samples, peak-normalised before the loudness gain."""
    t = np.arange(n) / rate
    high = event.pitch == "high"
    jitter = rng.uniform(0.92, 1.08)
    key = event.source.key
    if key == "bell":
        f = (900.0 if high else 300.0) * jitter
        tone = sum(a * np.sin(2 * np.pi * f * r * t) for r, a in ((1, 1.0), (2.76, 0.6), (5.4, 0.3)))
    elif key == "whistle":
        f = (1800.0 if high else 600.0) * jitter
        tone = np.sin(2 * np.pi * f * t + 0.002 * f * np.sin(2 * np.pi * 5 * t))
    elif key == "engine":
        f = (140.0 if high else 60.0) * jitter
        tone = sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 12)) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    elif key == "wind":
        low, top = (2000.0, 6000.0) if high else (150.0, 700.0)
        tone = _bandpass_noise(n, rate, low, top, rng) * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t))
    elif key == "bird":
        f0, f1 = ((3000.0, 5000.0) if high else (1400.0, 2400.0))
        phase = (t * 6.0) % 1.0  # six upward sweeps per second
        tone = np.sin(2 * np.pi * np.cumsum(f0 * jitter + (f1 - f0) * phase) / rate)
    elif key == "knock":
        low, top = (2500.0, 7000.0) if high else (100.0, 900.0)
        tone = _bandpass_noise(n, rate, low, top, rng)
    elif key == "drum":
        f = (200.0 if high else 60.0) * jitter
        tone = np.sin(2 * np.pi * f * t * (1 - 0.1 * np.minimum(t, 1)))
    else:  # siren
        f = (1000.0 if high else 400.0) * jitter
        tone = np.sin(2 * np.pi * np.cumsum(f * (1.25 + 0.25 * np.sin(2 * np.pi * 0.5 * t))) / rate)
    tone = tone * _envelope(event.rhythm, n, rate, rng, not event.source.sustained)
    tone = tone / (np.abs(tone).max() + 1e-9)
    gain = 0.6 if event.loudness == "loud" else 0.12
    return tone * gain


# --- captions --------------------------------------------------------------------------


def describe(event: Event, rng: np.random.Generator, keep: float = 0.7) -> str:
    """A noun phrase + verb for ``event``; each attribute is mentioned with probability ``keep``."""
    adjectives = []
    if rng.random() < keep:
        adjectives.append(_choice(rng, LOUDNESS_WORDS[event.loudness]))
    if rng.random() < keep:
        adjectives.append(_choice(rng, PITCH_WORDS[event.pitch]))
    noun = _choice(rng, event.source.nouns)
    phrase = " ".join([*adjectives, noun])
    article = "an" if phrase[0] in "aeiou" else "a"
    words = f"{article} {phrase} {_choice(rng, event.source.verbs)}"
    if rng.random() < keep:
        words += " " + _choice(rng, RHYTHM_WORDS[event.rhythm])
    return words


def caption(events: list[Event], overlap: bool, rng: np.random.Generator) -> str:
    if len(events) == 1:
        text = describe(events[0], rng)
    else:
        template = _choice(rng, OVERLAP_TEMPLATES if overlap else SEQUENCE_TEMPLATES)
        text = template.format(a=describe(events[0], rng), b=describe(events[1], rng))
    return text[0].upper() + text[1:] + "."


# --- clips ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """What clip ``index`` of a split contains, and the seeds for its sound and its captions."""

    events: tuple[Event, ...]
    overlap: bool
    n_samples: int
    audio_seed: np.random.SeedSequence
    text_seed: np.random.SeedSequence


def clip_spec(seed: int, split: str, index: int, rate: int, min_s: float, max_s: float) -> ClipSpec:
    structure, audio_seed, text_seed = np.random.SeedSequence([seed, SPLITS.index(split), index]).spawn(3)
    rng = np.random.default_rng(structure)
    n_samples = int(rng.uniform(min_s, max_s) * rate)
    events = [sample_event(rng)]
    overlap = False
    if rng.random() < 0.5:
        events.append(sample_event(rng))
        overlap = bool(rng.random() < 0.4)
    return ClipSpec(tuple(events), overlap, n_samples, audio_seed, text_seed)


def clip_audio(spec: ClipSpec, rate: int) -> np.ndarray:
    """The clip's waveform: its events (in sequence or overlapping) over faint room noise."""
    rng = np.random.default_rng(spec.audio_seed)
    n = spec.n_samples
    audio = 0.003 * rng.standard_normal(n)
    if len(spec.events) == 1:
        audio += synthesise(spec.events[0], n, rate, rng)
    elif spec.overlap:
        audio += synthesise(spec.events[0], n, rate, rng) + synthesise(spec.events[1], n, rate, rng)
    else:
        half = n // 2
        audio[:half] += synthesise(spec.events[0], half, rate, rng)
        audio[half:] += synthesise(spec.events[1], n - half, rate, rng)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def clip_captions(spec: ClipSpec, n_captions: int) -> list[str]:
    rng = np.random.default_rng(spec.text_seed)
    return [caption(list(spec.events), spec.overlap, rng) for _ in range(n_captions)]


class Synthetic(ClothoLayoutDataset):
    """Generated clips written as WAV files plus Clotho captions CSVs.

    The default is sized for a first run on a laptop CPU: 400 / 100 / 200 clips of 1-2 s
    (about 1,000 s of audio, a few minutes through the four pretrained experts on two
    cores). :data:`synthetic_large` is the same generator at 1,000 / 200 / 200 clips of 3-6 s.
    """

    def __init__(
        self,
        seed: int = 0,
        n_development: int = 400,
        n_validation: int = 100,
        n_evaluation: int = 200,
        sample_rate: int = 16000,
        min_seconds: float = 1.0,
        max_seconds: float = 2.0,
        captions_per_clip: int = 5,
    ) -> None:
        sizes = {"development": n_development, "validation": n_validation, "evaluation": n_evaluation}
        for split, size in sizes.items():
            if int(size) < 2:
                raise BenchError(f"n_{split} must be at least 2, got {size}")
        if not 0 < float(min_seconds) <= float(max_seconds):
            raise BenchError("need 0 < min_seconds <= max_seconds")
        self._options = {
            "seed": int(seed),
            "sizes": {k: int(v) for k, v in sizes.items()},
            "sample_rate": int(sample_rate),
            "min_seconds": float(min_seconds),
            "max_seconds": float(max_seconds),
            "captions_per_clip": int(captions_per_clip),
            "generator": 1,  # bump when the generator's output changes
        }

    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def prepare(self, data_dir: Path) -> None:
        """Generate missing clips (resumable: finished files are kept), then the CSVs."""
        marker = data_dir / PREPARED
        if marker.is_file() and json.loads(marker.read_text()) == self._options:
            return
        import soundfile
        from benchmark.api import Progress

        o = self._options
        total = sum(o["sizes"].values())
        with Progress(total, "generating synthetic clips", unit="clip") as bar:
            for split in SPLITS:
                names, captions = [], []
                for index in range(o["sizes"][split]):
                    name = f"synthetic_{split}_{index:05d}.wav"
                    path = data_dir / split / name
                    spec = clip_spec(o["seed"], split, index, o["sample_rate"], o["min_seconds"], o["max_seconds"])
                    if not path.is_file():
                        with atomic_path(path) as tmp:
                            audio = clip_audio(spec, o["sample_rate"])
                            soundfile.write(str(tmp), audio, o["sample_rate"], subtype="PCM_16", format="WAV")
                    names.append(name)
                    captions.append(clip_captions(spec, o["captions_per_clip"]))
                    bar.update()
                write_captions_csv(captions_csv(data_dir, split), names, captions)
        write_json(marker, self._options)


#: The synthetic set at 1,000 / 200 / 200 clips of 3-6 s (``--dataset synthetic_large``): five
#: times the audio of the default, for runs that can wait for the experts (about 25 minutes
#: of extraction on two CPU cores).
synthetic_large = functools.partial(
    Synthetic, n_development=1000, n_validation=200, n_evaluation=200, min_seconds=3.0, max_seconds=6.0
)

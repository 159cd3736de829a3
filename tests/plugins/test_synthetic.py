import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench_plugins.datasets.synthetic import Synthetic, clip_audio, clip_captions, clip_spec
from benchmark.errors import BenchError

SMALL = dict(n_development=12, n_validation=4, n_evaluation=4, min_seconds=0.5, max_seconds=1.0)


def test_clips_are_deterministic_from_the_seed():
    a, b, other = clip_spec(0, "development", 3, 16000, 1, 2), clip_spec(0, "development", 3, 16000, 1, 2), clip_spec(1, "development", 3, 16000, 1, 2)
    np.testing.assert_array_equal(clip_audio(a, 16000), clip_audio(b, 16000))
    assert clip_captions(a, 5) == clip_captions(b, 5)
    assert clip_captions(a, 5) != clip_captions(other, 5)


def test_written_in_clotho_layout_and_readable_by_the_shared_loader(tmp_path):
    dataset = Synthetic(**SMALL)
    dataset.prepare(tmp_path)
    for split, size in (("development", 12), ("validation", 4), ("evaluation", 4)):
        with open(tmp_path / f"clotho_captions_{split}.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["file_name", "caption_1", "caption_2", "caption_3", "caption_4", "caption_5"]
        assert len(rows) == size + 1
        loaded = dataset.load_split(tmp_path, split)
        assert len(loaded) == size and all(len(c) == 5 for c in loaded.captions)
        info = soundfile.info(str(loaded.audio_paths[0]))
        assert info.samplerate == 16000 and 0.5 <= info.duration <= 1.0


def test_growing_a_split_keeps_its_first_clips(tmp_path):
    small, large = Synthetic(**SMALL), Synthetic(**{**SMALL, "n_development": 20})
    small.prepare(tmp_path / "small")
    large.prepare(tmp_path / "large")
    first = small.load_split(tmp_path / "small", "development").captions
    assert large.load_split(tmp_path / "large", "development").captions[:12] == first


def test_captions_paraphrase_and_collide_across_clips():
    captions = [clip_captions(clip_spec(0, "development", i, 16000, 1, 2), 5) for i in range(300)]
    # paraphrases: a clip's five captions are not all the same sentence
    assert np.mean([len(set(c)) for c in captions]) > 3.5
    # near-duplicates: many clips share a caption, word for word or nearly, with another clip
    owners = Counter(c for clip in captions for c in set(clip))
    assert sum(1 for count in owners.values() if count > 1) >= 5

    def words(caption):
        return set(caption.lower().strip(".").replace(",", "").split())

    def closest(i):
        return max(
            len(words(a) & words(b)) / len(words(a) | words(b))
            for j in range(len(captions)) if j != i for a in captions[i] for b in captions[j]
        )

    assert sum(closest(i) >= 0.8 for i in range(100)) >= 20


def test_events_are_audible_and_attributes_change_the_sound():
    specs = [clip_spec(0, "development", i, 16000, 1, 2) for i in range(40)]
    loud = [s for s in specs if len(s.events) == 1 and s.events[0].loudness == "loud"]
    quiet = [s for s in specs if len(s.events) == 1 and s.events[0].loudness == "quiet"]
    rms = lambda spec: float(np.sqrt(np.mean(clip_audio(spec, 16000) ** 2)))  # noqa: E731
    assert loud and quiet
    assert np.median([rms(s) for s in loud]) > 2 * np.median([rms(s) for s in quiet])


def test_bad_sizes_are_refused():
    with pytest.raises(BenchError, match="n_validation must be at least 2"):
        Synthetic(n_validation=1)


def test_the_default_is_sized_for_a_laptop_and_the_large_set_is_one_name_away():
    from benchmark.data import open_dataset
    from benchmark.plugins import get_plugin_manager

    manager = get_plugin_manager()
    default = open_dataset(manager, "synthetic", {}, Path("data")).plugin.options()
    large = open_dataset(manager, "synthetic_large", {}, Path("data"))
    assert default["sizes"] == {"development": 400, "validation": 100, "evaluation": 200}
    assert (default["min_seconds"], default["max_seconds"]) == (1.0, 2.0)
    assert large.key == "synthetic_large" and large.data_dir == Path("data/synthetic_large")
    assert large.plugin.options()["sizes"] == {"development": 1000, "validation": 200, "evaluation": 200}
    assert (large.plugin.options()["min_seconds"], large.plugin.options()["max_seconds"]) == (3.0, 6.0)

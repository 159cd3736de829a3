"""Recall figures of stored runs: one line per run, named with what the run was."""

from pathlib import Path

import numpy as np

from benchmark.figures import curves, plot_recall
from benchmark.queries import QueryRecord
from benchmark.rescoring import Stored
from benchmark.results import Result

LOGMEL = "experts=[{name: logmel, frame_rate: 2.0}]"


def stored(seed, overrides=()):
    similarity = np.eye(3, dtype=np.float32) + seed
    queries = QueryRecord.from_similarity(similarity, ["a.wav", "b.wav", "c.wav"], [["a"], ["b"], ["c"]])
    result = Result(system="ranking", dataset="synthetic", seed=seed, overrides=list(overrides),
                    metrics={"text_to_audio": dict.fromkeys(("R@1", "R@5", "R@10", "mAP@10"), 1.0)})
    return Stored(Path(f"seed-{seed}.json"), result, queries)


def test_a_run_with_overrides_is_named_with_them_and_drawn_in_a_colour_of_its_own(tmp_path):
    lines = curves([stored(0), stored(1), stored(0, [LOGMEL]), stored(1, [LOGMEL])])
    assert [line.label for line in lines] == [
        "ranking, seed 0 (synthetic)", "ranking, seed 1 (synthetic)",
        f"ranking --set {LOGMEL}, seed 0 (synthetic)", f"ranking --set {LOGMEL}, seed 1 (synthetic)",
    ]
    assert [(line.colour, line.style) for line in lines] == [("C0", "-"), ("C0", "--"), ("C1", "-"), ("C1", "--")]
    assert lines[0].recall[0] == 1.0  # each caption's own clip ranks first
    plot_recall([stored(0, [LOGMEL])], tmp_path / "recall.png")
    assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

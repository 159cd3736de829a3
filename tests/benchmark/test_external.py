"""`bench score` and `bench export`: predictions made elsewhere scored as the conventions
say, against the organisers' rule computed here independently, and bad files named."""

import csv
import json

import numpy as np
import pytest

from bench_plugins.datasets import clotho
from benchmark.cli import main
from tests.benchmark.test_conventions import baseline_ap
from tests.plugins.datasets.fixtures import clip_name
from tests.plugins.datasets.test_clotho import V2_SIZES, mirror  # noqa: F401  (the fixture)

NAMES = [clip_name("evaluation", i) for i in range(V2_SIZES["evaluation"])]
CAPTIONS = [[f"A evaluation sound, number {i}, heard in take {k}." for k in range(1, 6)] for i in range(len(NAMES))]


def annotations(served):
    return clotho.read_annotations(served / "dcase2025" / "metadata_eval.csv")


def write_predictions(path, queries, files, scores, header="index"):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([header, *files])
        for query, row in zip(queries, scores):
            writer.writerow([query, *row])
    return path


def bench_score(tmp_path, predictions, *extra):
    return main(["score", str(predictions), "--dataset", "clotho_v2", "--data-dir", str(tmp_path / "data"),
                 "--output", str(tmp_path / "results"), *extra])


def test_a_dcase2025_submission_scores_as_the_organisers_rule(mirror, tmp_path, capsys):  # noqa: F811
    queries = annotations(mirror)
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((len(queries), len(NAMES)))
    order = rng.permutation(len(NAMES))  # columns in any order, as os.listdir gives them
    path = write_predictions(tmp_path / "team.csv", [q for q, _ in queries], [NAMES[i] for i in order], scores[:, order])
    assert bench_score(tmp_path, path, "--convention", "dcase2025", "--system", "team") == 0
    result = json.loads((tmp_path / "results" / "clotho_v2" / "team" / "seed-0.json").read_text())
    index = {n: i for i, n in enumerate(NAMES)}
    for k in (16, 10):
        organisers = np.mean([baseline_ap(scores[q], [index[f] for f in files], k) for q, (_, files) in enumerate(queries)])
        assert result["metrics"]["text_to_audio"][f"mAP@{k}"] == pytest.approx(organisers, abs=1e-9)
    assert result["convention"] == "dcase2025" and result["seed"] == 0
    import hashlib

    assert result["external"] == {"predictions": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                  "format": "dcase2025-csv", "queries": len(queries), "files": len(NAMES)}
    assert result["config"] == {"name": "team", "external": True} and result["queries"]["file"] == "seed-0.queries.npz"
    assert result["metrics"]["audio_to_text"] == {} and result["relevance"]["identical_captions"] is False
    assert result["n_clips"] == {"test": len(NAMES)} and result["n_test_captions"] == 5 * len(NAMES)
    assert result["protocol"] == {"name": "standard", "train": "development", "validation": "validation",
                                  "test": "evaluation"}
    assert "mAP@16" in capsys.readouterr().out
    # rescore reads it like a run's, with intervals; the leaderboard lists it in a table of its convention
    assert main(["rescore", str(tmp_path / "results" / "clotho_v2" / "team"), "--convention", "dcase2025"]) == 0
    out = capsys.readouterr().out
    assert f"{result['metrics']['text_to_audio']['mAP@16']:.3f}" in out
    from benchmark.leaderboard import render

    board = render([tmp_path / "results"])
    assert "## clotho_v2, scored as dcase2025" in board and "| system " in board and "mAP@16" in board
    row = next(line for line in board.splitlines() if "`team`" in line)
    assert "(external)" in row and f"{result['metrics']['text_to_audio']['mAP@16']:.3f} [" in row


def test_predictions_of_every_caption_score_under_dcase2022_and_export_round_trips(mirror, tmp_path):  # noqa: F811
    texts = [t for c in CAPTIONS for t in c]
    scores = np.random.default_rng(1).standard_normal((len(texts), len(NAMES)))
    path = write_predictions(tmp_path / "all.csv", texts, NAMES, scores)
    assert bench_score(tmp_path, path, "--system", "all") == 0
    result = tmp_path / "results" / "clotho_v2" / "all" / "seed-0.json"
    from benchmark.metrics import retrieval_metrics

    expected = retrieval_metrics(scores, np.repeat(np.arange(len(NAMES)), 5))
    assert json.loads(result.read_text())["metrics"]["text_to_audio"] == pytest.approx(expected, abs=1e-12)
    assert main(["export", str(result)]) == 0  # it holds the dcase2025 queries' rows too
    exported = tmp_path / "results" / "clotho_v2" / "all" / "seed-0.dcase2025.csv"
    assert bench_score(tmp_path, exported, "--convention", "dcase2025", "--system", "again") == 0
    first = json.loads(result.read_text())
    assert main(["rescore", str(result), "--convention", "dcase2025"]) == 0
    again = json.loads((tmp_path / "results" / "clotho_v2" / "again" / "seed-0.json").read_text())
    from benchmark.conventions import convention
    from benchmark.rescoring import load, per_query

    values, _ = per_query(load(result), convention("dcase2025"))
    assert again["metrics"]["text_to_audio"]["mAP@16"] == pytest.approx(float(values["mAP@16"].mean()), abs=1e-12)
    assert first["convention"] == "dcase2022"


@pytest.mark.parametrize("edit, message", [
    (lambda q, f, s: (q[:-1], f, s[:-1]), "no row for query .* every one needs a row"),
    (lambda q, f, s: (q + ["A cat meows."], f, np.vstack([s, s[:1]])), "row 7: query 'A cat meows.' is neither a caption"),
    (lambda q, f, s: (q + q[:1], f, np.vstack([s, s[:1]])), "query row 6 repeats query row 1"),
    (lambda q, f, s: (q, f[:-1], s[:, :-1]), "no column for .* every file of the split needs a column"),
    (lambda q, f, s: (q, f[:-1] + ["other.wav"], s), "column 'other.wav': not a file of split 'evaluation'"),
    (lambda q, f, s: (q, f[:-1] + f[:1], s), "column 5 repeats column 1"),
    (lambda q, f, s: (q, f, np.where(np.arange(s.size).reshape(s.shape) == 7, np.nan, s)), "row 3 .* is not a finite number"),
    (lambda q, f, s: (q, f, np.where(np.arange(s.size).reshape(s.shape) == 7, np.inf, s)), "is not a finite number"),
    (lambda q, f, s: (q, f, np.where(np.arange(s.size).reshape(s.shape) == 7, "0.5x", s.astype(str))),
     r"row 3 \(.*\), column .*: '0.5x' is not a number"),
])
def test_a_bad_predictions_file_is_one_line_naming_the_row_or_column_and_nothing_is_written(
        mirror, tmp_path, capsys, edit, message):  # noqa: F811
    queries = [q for q, _ in annotations(mirror)]
    q, f, s = edit(queries, list(NAMES), np.random.default_rng(2).standard_normal((len(queries), len(NAMES))))
    path = write_predictions(tmp_path / "bad.csv", q, f, s)
    assert bench_score(tmp_path, path, "--convention", "dcase2025") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("downloading")]
    assert len(lines) == 1 and lines[0].startswith("error:")
    err = lines[0]
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "results").exists()


def test_a_file_name_written_without_its_html_entities_is_named_with_the_datasets_spelling(tmp_path):
    from benchmark.api import Split
    from benchmark.errors import BenchError
    from benchmark.external import _columns
    from benchmark.predictions import Predictions

    split = Split("evaluation", (tmp_path / "Kid&#39;s toy.wav", tmp_path / "b.wav"), (("a",), ("b",)))
    predictions = Predictions(tmp_path / "p.csv", ("a",), ("Kid's toy.wav", "b.wav"), np.zeros((1, 2)), "dcase2025-csv")
    with pytest.raises(BenchError, match="the split spells it 'Kid&#39;s toy.wav'"):
        _columns(predictions, split)


def test_a_npy_matrix_with_its_lists_scores_and_a_shape_that_disagrees_is_named(mirror, tmp_path, capsys):  # noqa: F811
    queries = [q for q, _ in annotations(mirror)]
    np.save(tmp_path / "m.npy", np.random.default_rng(3).standard_normal((len(queries), len(NAMES))))
    (tmp_path / "q.txt").write_text("\n".join(queries) + "\n")
    (tmp_path / "f.txt").write_text("\n".join(NAMES) + "\n")
    args = ["--convention", "dcase2025", "--queries", str(tmp_path / "q.txt"), "--files", str(tmp_path / "f.txt")]
    assert bench_score(tmp_path, tmp_path / "m.npy", *args) == 0
    (tmp_path / "f.txt").write_text("\n".join(NAMES[:-1]) + "\n")
    assert bench_score(tmp_path, tmp_path / "m.npy", *args, "--force") == 2
    assert "lists 5 queries and" in capsys.readouterr().err


def test_export_names_a_record_without_the_query_set(mirror, tmp_path, capsys):  # noqa: F811
    queries = [q for q, _ in annotations(mirror)]
    path = write_predictions(tmp_path / "t.csv", queries, NAMES, np.zeros((len(queries), len(NAMES))) + np.arange(5))
    assert bench_score(tmp_path, path, "--convention", "dcase2025", "--system", "t") == 0
    result = tmp_path / "results" / "clotho_v2" / "t" / "seed-0.json"
    assert main(["export", str(result), "--output", str(tmp_path / "out.csv")]) == 0
    rows = list(csv.reader((tmp_path / "out.csv").open()))
    assert rows[0] == ["index", *NAMES] and [r[0] for r in rows[1:]] == queries
    assert main(["rescore", str(result)]) == 2  # a record of the annotated queries alone has no captions to score
    assert "holds only the dcase2025 queries" in capsys.readouterr().err
    # inspect shows its queries: the last one lists clip 0 only, which all scores put last (rank 5)
    assert main(["inspect", str(result), "--worst", "1"]) == 0
    out = capsys.readouterr().out
    assert "rank of each dcase2025 query's first relevant clip (5 queries):" in out
    assert f"{queries[-1]!r}\n    relevant {NAMES[0]} ranked 5; retrieved first:\n    1. {NAMES[4]}" in out


def test_an_external_scoring_is_frozen():
    import dataclasses

    from benchmark.external import Scored

    with pytest.raises(dataclasses.FrozenInstanceError):
        Scored(None, None).result = None

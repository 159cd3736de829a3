"""Prediction files: the DCASE 2025 submission CSV and a .npy matrix with its lists, read
exactly, written so they read back exactly, and every bad cell named."""

import numpy as np
import pytest

from benchmark.errors import BenchError
from benchmark.predictions import read, read_csv, write_csv

FILES = ["Kid&#39;s toy.wav", "rain, thunder.wav", "b.wav"]
QUERIES = ["a dog barks", "rain, then \"thunder\"", "birds sing"]


def test_a_submission_round_trips_exactly(tmp_path):
    scores = np.random.default_rng(0).standard_normal((3, 3)) / 1024  # the baseline's cosine / 1024
    write_csv(tmp_path / "p.csv", QUERIES, FILES, scores)
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "index,Kid&#39;s toy.wav,\"rain, thunder.wav\",b.wav"
    read_back = read(tmp_path / "p.csv")
    assert read_back.queries == tuple(QUERIES) and read_back.files == tuple(FILES)
    assert np.array_equal(read_back.scores, scores) and read_back.format == "dcase2025-csv"


def test_a_csv_written_by_pandas_with_a_byte_order_mark_reads(tmp_path):
    (tmp_path / "p.csv").write_bytes("\ufeffindex,a.wav,b.wav\nq1,0.5,-1e-3\nq2,1,2.5E2\n".encode())
    read_back = read_csv(tmp_path / "p.csv")
    assert read_back.queries == ("q1", "q2") and read_back.scores.tolist() == [[0.5, -0.001], [1.0, 250.0]]


@pytest.mark.parametrize("text, message", [
    ("", "expected a header row 'index,<file name>,…'"),
    ("index\nq,1\n", "expected a header row"),
    ("index,a.wav,b.wav\n", "no query rows after the header"),
    ("index,a.wav,b.wav\nq,1\n", "row 2: 2 cells, the header has 3"),
    ("index,a.wav,\nq,1,2\n", "header: column 2 is empty"),
    ("index,a.wav,b.wav\n,1,2\n", "query row 1 is empty"),
    ("index,a.wav,b.wav\nq,1,2\nq,3,4\n", "query row 2 repeats query row 1 \\('q'\\)"),
    ("index,a.wav,b.wav\nq,1,nan\n", "row 2 \\('q'\\), column 'b.wav': similarity nan is not a finite number"),
    ("index,a.wav,b.wav\nq,1,\n", "row 2 \\('q'\\), column 'b.wav': '' is not a number"),
    ("index,a.wav,b.wav\nq,1,2\nr,-inf,2\n", "row 3 \\('r'\\), column 'a.wav': similarity -inf"),
])
def test_every_bad_cell_is_named(tmp_path, text, message):
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(BenchError, match=message):
        read_csv(tmp_path / "p.csv")


def test_a_matrix_reads_with_its_lists_and_a_mismatch_is_named(tmp_path):
    np.save(tmp_path / "m.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (tmp_path / "q.txt").write_text("q1\nq2\n")
    (tmp_path / "f.txt").write_text("a.wav\nb.wav\nc.wav\n")
    read_back = read(tmp_path / "m.npy", tmp_path / "q.txt", tmp_path / "f.txt")
    assert read_back.queries == ("q1", "q2") and read_back.scores.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read_back.format == "npy"
    with pytest.raises(BenchError, match="name its query and file lists with --queries and --files"):
        read(tmp_path / "m.npy")
    (tmp_path / "f.txt").write_text("a.wav\nb.wav\n")
    with pytest.raises(BenchError, match=r"shape \(2, 3\), but .*q.txt lists 2 queries and .*f.txt 2 files"):
        read(tmp_path / "m.npy", tmp_path / "q.txt", tmp_path / "f.txt")
    (tmp_path / "f.txt").write_text("a.wav\nb.wav\na.wav\n")
    with pytest.raises(BenchError, match="file 3 repeats file 1"):
        read(tmp_path / "m.npy", tmp_path / "q.txt", tmp_path / "f.txt")
    np.save(tmp_path / "m.npy", np.array([["a", "b", "c"], ["d", "e", "f"]]))
    (tmp_path / "f.txt").write_text("a.wav\nb.wav\nc.wav\n")
    with pytest.raises(BenchError, match="a <U1 matrix"):
        read(tmp_path / "m.npy", tmp_path / "q.txt", tmp_path / "f.txt")
    np.save(tmp_path / "m.npy", np.array([[0.0, np.inf, 1], [1, 2, 3]]))
    with pytest.raises(BenchError, match="row 1 \\('q1'\\), column 'b.wav': similarity inf is not a finite number"):
        read(tmp_path / "m.npy", tmp_path / "q.txt", tmp_path / "f.txt")
    with pytest.raises(BenchError, match="does not exist"):
        read(tmp_path / "none.csv")


def test_one_file_reads_a_matrix_needs_both_lists_and_predictions_are_frozen(tmp_path):
    import dataclasses

    (tmp_path / "p.csv").write_text("index,a.wav\nq,0.25\n")
    one = read_csv(tmp_path / "p.csv")
    assert one.files == ("a.wav",) and one.scores.tolist() == [[0.25]]
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.scores = None
    np.save(tmp_path / "m.npy", np.zeros((1, 1)))
    (tmp_path / "q.txt").write_text("q\n")
    with pytest.raises(BenchError, match="name its query and file lists with --queries and --files"):
        read(tmp_path / "m.npy", queries=tmp_path / "q.txt")

import json

import pytest

from benchmark.data import read_captions_csv, write_captions_csv
from benchmark.errors import BenchError


@pytest.fixture
def audio_dir(tmp_path):
    directory = tmp_path / "development"
    directory.mkdir()
    for name in ("a.wav", "b.wav"):
        (directory / name).write_bytes(b"")
    return directory


def write(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "clotho_captions_development.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_roundtrip_in_clotho_layout(tmp_path, audio_dir):
    path = tmp_path / "clotho_captions_development.csv"
    write_captions_csv(path, ["a.wav", "b.wav"], [["one, with comma", "two"], ["three", "four"]])
    assert path.read_text().splitlines()[0] == "file_name,caption_1,caption_2"
    split = read_captions_csv(path, audio_dir, "development")
    assert split.file_names == ["a.wav", "b.wav"]
    assert split.captions[0] == ("one, with comma", "two")
    assert split.captions_per_clip == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("file_name,caption_1\na.wav,hello\na.wav,again\n", "line 3: duplicate file name 'a.wav'"),
        ("file_name,caption_1,caption_2\na.wav,hello,\n", "line 2: empty caption_2 for 'a.wav'"),
        ("name,caption_1\na.wav,hello\n", "expected columns file_name,caption_1"),
        ("file_name,caption_1\nmissing.wav,hello\n", "missing.wav is listed but absent"),
        ("file_name,caption_1,caption_2\na.wav,hello\n", "line 2: 2 columns, expected 3"),
        ("file_name,caption_1\n", "no clips listed"),
    ],
)
def test_bad_captions_files_name_the_file_and_the_row(tmp_path, audio_dir, text, message):
    path = write(tmp_path, text)
    with pytest.raises(BenchError) as error:
        read_captions_csv(path, audio_dir, "development")
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_captions_file_saved_with_a_byte_order_mark_is_read(tmp_path, audio_dir):
    """Spreadsheet programs save UTF-8 CSVs with a BOM; the header must still match."""
    path = write(tmp_path, "\ufefffile_name,caption_1\na.wav,hello\nb.wav,world\n")
    split = read_captions_csv(path, audio_dir, "development")
    assert split.file_names == ["a.wav", "b.wav"] and split.captions[1] == ("world",)


def test_non_utf8_bytes_are_reported(tmp_path, audio_dir):
    path = write(tmp_path, "file_name,caption_1\na.wav,caf\u00e9\n", encoding="latin-1")
    with pytest.raises(BenchError, match="not valid UTF-8"):
        read_captions_csv(path, audio_dir, "development")


def test_names_are_tried_as_written_then_stripped_and_kept_with_their_entities(tmp_path):
    """Real Clotho: CRLF line ends, HTML entities, commas and brackets in names that the
    audio files carry too, and a few cells with surrounding spaces."""
    audio = tmp_path / "development"
    audio.mkdir()
    names = (" Leading space.wav", "Trailing.wav", "Rain &amp; thunder, (take 1) [Kid&#39;s].wav")
    for name in names:
        (audio / name).write_bytes(b"")
    path = write(tmp_path, 'file_name,caption_1\r\n Leading space.wav,one\r\nTrailing.wav ,two\r\n'
                           '"Rain &amp; thunder, (take 1) [Kid&#39;s].wav",three\r\n')
    split = read_captions_csv(path, audio, "development")
    assert split.file_names == list(names) and split.captions == (("one",), ("two",), ("three",))


@pytest.mark.parametrize("name", ["../escaped.wav", "/etc/hostname", "sub/../../escaped.wav"])
def test_names_leaving_the_audio_folder_are_refused(tmp_path, audio_dir, name):
    (tmp_path / "escaped.wav").write_bytes(b"")
    path = write(tmp_path, f"file_name,caption_1\n{name},hello\n")
    with pytest.raises(BenchError, match=f"line 2: file name '{name}' leaves the directory"):
        read_captions_csv(path, audio_dir, "development")


def test_ragged_rows_keep_at_least_one_caption(tmp_path, audio_dir):
    path = write(tmp_path, "file_name,caption_1,caption_2,caption_3\na.wav,one,two,\nb.wav,one,,\n")
    assert read_captions_csv(path, audio_dir, "development", ragged=True).captions == (("one", "two"), ("one",))
    path = write(tmp_path, "file_name,caption_1,caption_2\na.wav,,\n")
    with pytest.raises(BenchError, match="line 2: empty caption_1 for 'a.wav'"):
        read_captions_csv(path, audio_dir, "development", ragged=True)


def test_check_audio_names_the_file_and_where_it_was_listed(tmp_path):
    import numpy as np
    import soundfile

    from benchmark.data import check_audio

    good, bad, empty = tmp_path / "good.flac", tmp_path / "bad.wav", tmp_path / "empty.wav"
    soundfile.write(str(good), np.zeros(160, dtype=np.float32), 16000)
    bad.write_bytes(b"not audio")
    soundfile.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    marker = tmp_path / "checked.json"
    check_audio([(good, "list.csv, line 2")], marker)
    assert list(json.loads(marker.read_text())) == [str(good)]
    with pytest.raises(BenchError, match=r"^list.csv, line 3: audio file .*bad.wav does not decode \(.*\)$"):
        check_audio([(good, "list.csv, line 2"), (bad, "list.csv, line 3")], marker)
    with pytest.raises(BenchError, match=r"list.csv, line 4: audio file .*empty.wav holds no samples"):
        check_audio([(empty, "list.csv, line 4")], marker)

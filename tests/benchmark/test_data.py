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


def test_non_utf8_bytes_are_reported(tmp_path, audio_dir):
    path = write(tmp_path, "file_name,caption_1\na.wav,caf\u00e9\n", encoding="latin-1")
    with pytest.raises(BenchError, match="not valid UTF-8"):
        read_captions_csv(path, audio_dir, "development")

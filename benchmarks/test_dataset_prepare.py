"""`bench prepare` on a Clotho-sized dataset that is already on disk and verified, against the
same preparation with the verification records removed (every file hashed again).

    pytest benchmarks/test_dataset_prepare.py --benchmark-enable --benchmark-group-by=group

The fixture is a Clotho v2.1 release at full size (3,839 / 1,045 / 1,045 clips, five
captions each, the official file names and encodings) with very short WAV files, served
from 127.0.0.1 and prepared once (download, md5, 7z extraction). Each benchmarked round
then does what `bench prepare` does: check every file, list the three splits (reading the
captions CSVs and finding each of the 5,929 audio files) and run the leakage check. The
archives are kept (``keep_archives``), so the uncached side hashes them as well.
"""

from __future__ import annotations

import pytest

from bench_plugins.datasets import clotho
from benchmark.data import open_dataset
from benchmark.download import record_path
from benchmark.plugins import get_plugin_manager
from tests.httpserver import serve
from tests.plugins.datasets.fixtures import build_clotho_release

SIZES = {"development": 3839, "validation": 1045, "evaluation": 1045}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("clotho-sized")
    checksums = build_clotho_release(root / "served" / "clotho_v2.1", SIZES, leaked=10, seconds=0.01)
    patch = pytest.MonkeyPatch()
    patch.setitem(clotho.RELEASES, "2.1", clotho.Release("2.1", 0, checksums))
    patch.delenv("HF_HUB_OFFLINE", raising=False)
    with serve(root / "served") as url:
        patch.setenv("BENCH_DATA_MIRROR", url)
        prepared = open_dataset(get_plugin_manager(), "clotho_v2", {"keep_archives": True}, root / "data")
        prepared.plugin.prepare(prepared.data_dir)
    patch.setenv("BENCH_OFFLINE", "1")  # the benchmarked rounds must not need the server
    yield prepared
    patch.undo()


def prepare_and_list(dataset) -> int:
    dataset.plugin.prepare(dataset.data_dir)
    clips = sum(len(dataset.split(role)) for role in ("train", "validation", "test"))
    dataset.plugin.report(dataset.data_dir)
    return clips


@pytest.mark.benchmark(group="prepare a Clotho-sized dataset already on disk")
def test_prepare_with_cached_checksums(benchmark, dataset):
    assert benchmark(prepare_and_list, dataset) == sum(SIZES.values())


@pytest.mark.benchmark(group="prepare a Clotho-sized dataset already on disk")
def test_prepare_recomputing_checksums(benchmark, dataset):
    def uncached():
        for path in dataset.data_dir.rglob("*.verified"):
            path.unlink()
        return prepare_and_list(dataset)

    assert benchmark(uncached) == sum(SIZES.values())
    assert record_path(dataset.data_dir / "clotho_captions_development.csv").is_file()

"""The resumable harvest against the stand-in: pages cached as they come, a run stopped by
its budget, a kill or a bad page continues where it stopped, and local dumps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import filelock
import pytest

from bench_plugins.datasets.freesound.api import FreesoundClient, Timer
from bench_plugins.datasets.freesound.harvest import (
    DESCRIPTIONS, HarvestOptions, harvest, query_key, read_dump, records, write_descriptions,
)
from benchmark.api import BenchError
from tests.plugins.datasets.freesound.standin import make_records, serve_freesound
from tests.plugins.datasets.freesound.test_api import TOKEN, FakeTime


class Killed(BaseException):
    """What a kill looks like to the harvest: an exception no handler catches."""


class KilledAt(FreesoundClient):
    """A client killed while it fetches page ``kill_at``."""

    kill_at: int = 0

    def search(self, query, page, page_size=150):
        if page == self.kill_at:
            raise Killed
        return super().search(query, page, page_size)


def run(api, directory: Path, options: HarvestOptions | None = None, fake: FakeTime | None = None,
        client_class: type[FreesoundClient] = FreesoundClient, **client_settings):
    """Harvest from the stand-in with a fake clock; the state, and what it logged."""
    options = options or HarvestOptions(base_url=api.url)
    fake = fake or FakeTime()
    freesound = client_class(options.base_url, TOKEN, per_minute=options.per_minute, max_requests=options.max_requests,
                             timer=Timer(fake.now, fake.sleep))
    for name, value in client_settings.items():
        setattr(freesound, name, value)
    lines: list[str] = []
    return harvest(options, directory, lines.append, freesound), lines


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def big():
    """The issue's target at a smaller size: 3,000 records, 20 pages of 150."""
    with serve_freesound(make_records(3000, seed=5), token=TOKEN) as api:
        yield api


@pytest.fixture(autouse=True)
def fresh(big):
    big.requests.clear()
    big.restore()


def test_a_harvest_caches_every_page_and_writes_each_record_once(big, tmp_path):
    state, lines = run(big, tmp_path)
    assert (state.pages, state.records, state.complete, state.requests, state.message) == (20, 3000, True, 20, "")
    assert big.pages() == list(range(1, 21))
    folder = tmp_path / "pages" / query_key("", 150)
    assert sorted(p.name for p in folder.iterdir()) == sorted(["query.json"] + [f"page-{n}.json" for n in range(1, 21)])
    assert jsonl(tmp_path / DESCRIPTIONS) == big.records
    assert "3000 distinct records" in lines[-1]
    again, _ = run(big, tmp_path)  # a finished harvest sends nothing
    assert again.complete and again.requests == 0 and big.pages() == list(range(1, 21))


def test_a_finished_harvest_needs_no_token(big, tmp_path, monkeypatch):
    run(big, tmp_path)
    (tmp_path / DESCRIPTIONS).unlink()
    monkeypatch.delenv("FREESOUND_TOKEN", raising=False)
    state = harvest(HarvestOptions(base_url=big.url), tmp_path, lambda line: None)
    assert state.complete and state.requests == 0 and jsonl(tmp_path / DESCRIPTIONS) == big.records
    with pytest.raises(BenchError, match="set FREESOUND_TOKEN"):  # one more query needs the API
        harvest(HarvestOptions(queries=("", "rain"), base_url=big.url), tmp_path, lambda line: None)


def test_a_harvest_stopped_by_its_budget_continues_where_it_stopped(big, tmp_path):
    whole, _ = run(big, tmp_path / "whole")
    big.requests.clear()
    options = HarvestOptions(base_url=big.url, max_requests=7)
    first, lines = run(big, tmp_path / "split", options)
    assert (first.pages, first.records, first.complete, first.requests) == (7, 1050, False, 7)
    assert "7 pages (1050 records) are cached" in first.message and "run the same command again" in first.message
    assert "about 13 more pages" in first.message and lines[-1] == first.message
    assert not (tmp_path / "split" / DESCRIPTIONS).exists()
    states = [run(big, tmp_path / "split", options)[0] for _ in range(2)]  # day 2, day 3
    assert [(s.pages, s.complete) for s in states] == [(14, False), (20, True)]
    assert big.pages() == list(range(1, 21))  # no page asked twice
    assert (tmp_path / "split" / DESCRIPTIONS).read_bytes() == (tmp_path / "whole" / DESCRIPTIONS).read_bytes()
    assert whole.records == 3000


def test_a_harvest_killed_mid_page_loses_only_that_page(big, tmp_path):
    with pytest.raises(Killed):
        run(big, tmp_path, client_class=KilledAt, kill_at=6)
    folder = tmp_path / "pages" / query_key("", 150)
    assert sorted(p.name for p in folder.glob("*page*")) == sorted(f"page-{n}.json" for n in range(1, 6))  # no temporary file
    state, lines = run(big, tmp_path)
    assert state.complete and state.requests == 15
    assert "5 pages cached (750 records); continuing at page 6 of about 20" in lines[0]
    assert big.pages() == list(range(1, 21))
    assert jsonl(tmp_path / DESCRIPTIONS) == big.records


def test_a_429_mid_harvest_is_waited_out(big, tmp_path):
    fake = FakeTime()
    big.rate_limit(after=4, retry_after=9)
    state, _ = run(big, tmp_path, fake=fake)
    assert state.complete and state.records == 3000
    assert big.pages() == [1, 2, 3, 4, 5, 5] + list(range(6, 21))
    assert 9 in fake.sleeps
    assert sum(fake.sleeps) == pytest.approx(19 + 9)  # 21 requests a second apart (60 a minute), the wait covering one gap


def test_the_daily_limit_pauses_the_harvest_cleanly(big, tmp_path):
    big.rate_limit(after=3, retry_after=40000)
    state, _ = run(big, tmp_path)
    assert (state.pages, state.complete) == (3, False)
    assert "request limit is reached" in state.message and "3 pages (450 records)" in state.message


def test_a_malformed_page_is_named_and_the_pages_before_it_are_kept(big, tmp_path):
    big.malformed(4)
    with pytest.raises(BenchError) as error:
        run(big, tmp_path)
    message = str(error.value)
    assert "\n" not in message and "page=4" in message and TOKEN not in message
    assert len(list((tmp_path / "pages" / query_key("", 150)).glob("page-*.json"))) == 3
    big.restore()
    state, _ = run(big, tmp_path)
    assert state.complete and big.pages() == [1, 2, 3, 4] + list(range(4, 21))
    assert jsonl(tmp_path / DESCRIPTIONS) == big.records


def test_the_token_is_in_no_cached_file_and_no_log_line(big, tmp_path):
    first, lines = run(big, tmp_path, HarvestOptions(base_url=big.url, max_requests=3))
    state, more = run(big, tmp_path)
    assert state.complete
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(encoding="utf-8", errors="replace"), path
    assert not any(TOKEN in line for line in lines + more + [first.message])
    assert TOKEN not in repr(state) and TOKEN not in repr(HarvestOptions())


def test_queries_are_harvested_in_turn_and_shared_sounds_kept_once(tmp_path):
    with serve_freesound(make_records(40, seed=3), token=TOKEN) as api:
        options = HarvestOptions(queries=("dog", "", "dog"), page_size=7, base_url=api.url)
        assert options.queries == ("dog", "")
        state, _ = run(api, tmp_path, options)
        dogs = [r for r in api.records if "dog" in (r["name"] + r["description"] + " ".join(r["tags"])).lower()]
        assert 0 < len(dogs) < 40
        assert state.complete and state.records == len(dogs) + 40
        written = jsonl(tmp_path / DESCRIPTIONS)
        assert written == dogs + [r for r in api.records if r not in dogs]
        assert sorted(state.queries) == sorted([query_key("dog", 7), query_key("", 7)])
        assert list(records(tmp_path, HarvestOptions(queries="dog", page_size=7))) == dogs


def test_records_keep_empty_descriptions_typed(tmp_path):
    with serve_freesound(make_records(60, seed=4), token=TOKEN) as api:
        run(api, tmp_path, HarvestOptions(page_size=25, base_url=api.url))
    written = jsonl(tmp_path / DESCRIPTIONS)
    assert any(r["description"] == "" for r in written)
    assert all(isinstance(r["description"], str) and isinstance(r["duration"], float) for r in written)


def test_a_partial_harvest_can_be_written_out(big, tmp_path):
    run(big, tmp_path, HarvestOptions(base_url=big.url, max_requests=2))
    assert write_descriptions(tmp_path, HarvestOptions()) == 300
    assert jsonl(tmp_path / DESCRIPTIONS) == big.records[:300]


def test_a_damaged_cached_page_is_named(big, tmp_path):
    run(big, tmp_path, HarvestOptions(base_url=big.url, max_requests=2))
    damaged = tmp_path / "pages" / query_key("", 150) / "page-2.json"
    damaged.write_text("{")
    with pytest.raises(BenchError, match=f"{damaged}.*delete it"):
        run(big, tmp_path)


def test_two_harvests_of_one_directory_do_not_run_together(big, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    with filelock.FileLock(tmp_path / ".harvest.lock"):
        with pytest.raises(BenchError, match="another Freesound harvest"):
            run(big, tmp_path)
    assert big.requests == []


@pytest.mark.parametrize("bad", [{"page_size": 151}, {"page_size": 0}, {"max_requests": 0}, {"per_minute": 0},
                                 {"queries": ()}, {"queries": [3]}])
def test_bad_options_are_named(bad):
    with pytest.raises(BenchError, match=next(iter(bad))):
        HarvestOptions(**bad)


def test_a_dump_is_read_with_malformed_lines_counted(tmp_path):
    good = make_records(5, seed=6)
    lines = [json.dumps(r) for r in good]
    lines[1:1] = ["{not json", json.dumps({k: v for k, v in good[0].items() if k != "duration"}), "",
                  json.dumps(good[2] | {"id": "x"})]
    lines.append(json.dumps(good[3] | {"description": "a duplicate: the first one is kept"}))
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    said: list[str] = []
    found, skipped = read_dump(dump, said.append)
    assert found == good and skipped == 3
    assert said == [f"Freesound dump {dump}: skipped 3 malformed lines (first line 2: Expecting property name "
                    "enclosed in double quotes: line 1 column 2 (char 1))"]
    packed = tmp_path / "dump.jsonl.gz"
    packed.write_bytes(gzip.compress(dump.read_bytes()))
    assert read_dump(packed) == (good, 3)


def test_a_missing_or_empty_dump_is_a_one_line_error(tmp_path):
    with pytest.raises(BenchError, match="dump .*missing.jsonl does not exist"):
        read_dump(tmp_path / "missing.jsonl")
    (tmp_path / "array.json").write_text(json.dumps(make_records(3)))
    with pytest.raises(BenchError, match=r"no valid record \(1 malformed lines; first line 1: it is a list"):
        read_dump(tmp_path / "array.json")

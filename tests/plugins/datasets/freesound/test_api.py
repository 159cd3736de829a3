"""The Freesound API v2 client against the stand-in: pages, the token, rate limits, the
request budget and malformed answers."""

from __future__ import annotations

import socket

import pytest

from bench_plugins.datasets.freesound.api import (
    FIELDS, FreesoundClient, HarvestPaused, Timer, harvest_record,
)
from benchmark.api import BenchError
from tests.plugins.datasets.freesound.standin import make_records, serve_freesound

TOKEN = "tok-3f9a1c7e5b2d8046"


class FakeTime:
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.t, self.sleeps = 1000.0, []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def timer(self) -> Timer:
        return Timer(now=self.now, sleep=self.sleep)


def client(url: str, fake: FakeTime | None = None, **settings) -> FreesoundClient:
    return FreesoundClient(url, TOKEN, timer=(fake or FakeTime()).timer(), **settings)


@pytest.fixture
def api():
    with serve_freesound(make_records(25, seed=1), token=TOKEN) as standin:
        yield standin


def test_search_pages_through_all_results_oldest_first(api):
    freesound = client(api.url)
    pages = [freesound.search("", n, page_size=10) for n in (1, 2, 3)]
    assert [p.has_next for p in pages] == [True, True, False]
    assert all(p.count == 25 for p in pages)
    assert [r for p in pages for r in p.results] == api.records
    assert freesound.search("", 4, page_size=10) is None  # past the last page
    assert "sort=created_asc" in api.requests[0] and "page_size=10" in api.requests[0]
    assert "fields=" + "%2C".join(FIELDS) in api.requests[0]


def test_the_token_travels_only_in_the_authorization_header(api):
    freesound = client(api.url)
    page = freesound.search("", 1, page_size=10)
    assert api.auth_headers == [f"Token {TOKEN}"]
    assert TOKEN not in api.requests[0] and TOKEN not in page.url
    assert TOKEN not in repr(freesound) and TOKEN not in str(freesound)


def test_the_token_and_the_url_come_from_the_environment(api, monkeypatch):
    monkeypatch.setenv("FREESOUND_TOKEN", TOKEN)
    monkeypatch.setenv("FREESOUND_API_URL", api.url + "/")
    freesound = FreesoundClient(timer=FakeTime().timer())
    assert freesound.base_url == api.url
    assert freesound.search("", 1, page_size=5).results == api.records[:5]


def test_a_missing_token_says_to_set_it_or_pass_a_dump(monkeypatch):
    monkeypatch.delenv("FREESOUND_TOKEN", raising=False)
    with pytest.raises(BenchError) as error:
        FreesoundClient("http://127.0.0.1:9/apiv2")
    message = str(error.value)
    assert "\n" not in message
    assert "set FREESOUND_TOKEN" in message and "https://freesound.org/apiv2/apply" in message and "dump" in message


def test_a_rejected_token_is_a_one_line_error_without_the_token(monkeypatch):
    with serve_freesound(make_records(5), token="the-right-one") as api:
        with pytest.raises(BenchError) as error:
            client(api.url).search("", 1)
    message = str(error.value)
    assert message.startswith("the token in FREESOUND_TOKEN was rejected (HTTP 401)")
    assert "\n" not in message and TOKEN not in message
    assert error.value.__cause__ is None  # no chained HTTP error carries the request


def test_a_429_is_waited_out_for_its_retry_after_and_the_page_fetched_again(api):
    fake = FakeTime()
    freesound = client(api.url, fake)
    api.rate_limit(after=1, retry_after=7)
    first = freesound.search("", 1, page_size=10)
    second = freesound.search("", 2, page_size=10)
    assert first.results + second.results == api.records[:20]
    assert api.pages() == [1, 2, 2]
    assert 7 in fake.sleeps
    assert freesound.requests_made == 3  # the refused request counts too


def test_a_retry_after_longer_than_the_client_waits_pauses_it(api):
    fake = FakeTime()
    api.rate_limit(after=0, retry_after=86400)  # the daily limit
    with pytest.raises(HarvestPaused, match="request limit is reached"):
        client(api.url, fake).search("", 1)
    assert max(fake.sleeps, default=0) < 86400


def test_endless_429s_stop_after_the_retries(api):
    fake = FakeTime()
    freesound = client(api.url, fake, retries=2)
    api.rate_limit(after=0, retry_after=3)
    original = api._take_limit
    api._take_limit = lambda: original() or 3  # every request is refused
    with pytest.raises(HarvestPaused, match="kept answering HTTP 429"):
        freesound.search("", 1)
    assert freesound.requests_made == 3 and fake.sleeps.count(3) == 2


def test_requests_are_spaced_to_the_rate(api):
    fake = FakeTime()
    freesound = client(api.url, fake, per_minute=30)
    for n in (1, 2, 3):
        freesound.search("", n, page_size=10)
    assert fake.sleeps == [2.0, 2.0]  # 30 a minute: one every 2 s, none before the first


def test_the_budget_stops_the_client_before_the_request_it_cannot_afford(api):
    freesound = client(api.url, max_requests=2)
    freesound.search("", 1, page_size=10)
    freesound.search("", 2, page_size=10)
    with pytest.raises(HarvestPaused, match=r"budget is spent \(2 requests\)"):
        freesound.search("", 3, page_size=10)
    assert api.pages() == [1, 2] and freesound.requests_made == 2


def test_a_page_that_is_not_json_is_a_one_line_error_naming_its_url(api):
    api.malformed(2)
    freesound = client(api.url)
    with pytest.raises(BenchError) as error:
        freesound.search("", 2, page_size=10)
    message = str(error.value)
    assert "\n" not in message and TOKEN not in message
    assert freesound.search_url("", 2, 10) in message and "not JSON" in message


def test_a_result_missing_a_field_is_named_with_its_page(tmp_path):
    records = make_records(12, seed=2)
    del records[7]["duration"]
    with serve_freesound(records, token=TOKEN) as api:
        freesound = client(api.url)
        assert len(freesound.search("", 1, page_size=5).results) == 5
        with pytest.raises(BenchError) as error:
            freesound.search("", 2, page_size=5)
    message = str(error.value)
    assert freesound.search_url("", 2, 5) in message
    assert f"result 2 (id {records[7]['id']})" in message and "'duration'" in message and TOKEN not in message


def test_an_unreachable_server_is_retried_then_named():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake = FakeTime()
    with pytest.raises(BenchError) as error:
        client(f"http://127.0.0.1:{port}/apiv2", fake, retries=2).search("", 1)
    assert f"127.0.0.1:{port}" in str(error.value) and "3 tries" in str(error.value)
    assert fake.sleeps == [2.0, 4.0]


def test_a_wrong_base_url_is_named(api):
    with pytest.raises(BenchError, match="FREESOUND_API_URL"):
        client(api.url + "/nothing-here").search("", 1)


def test_harvest_records_are_typed_as_the_shared_format():
    result = make_records(1)[0] | {"duration": 12, "description": None, "num_downloads": 3}
    record = harvest_record(result)
    assert list(record) == list(FIELDS)
    assert record["duration"] == 12.0 and isinstance(record["duration"], float)
    assert record["description"] == ""
    for bad in ({"id": True}, {"id": "12"}, {"tags": "a b"}, {"duration": float("nan")}, {"previews": ["x"]}):
        with pytest.raises(ValueError):
            harvest_record(result | bad)

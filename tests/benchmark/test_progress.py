"""Progress of long steps: plain timed lines when stderr is not a terminal, tqdm's bar when it is."""

import io
import re
import time

import pytest

import benchmark.progress
from benchmark.errors import BenchError
from benchmark.progress import Progress, duration


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(benchmark.progress, "_clock", clock)
    monkeypatch.delenv("BENCH_PROGRESS_SECONDS", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    return clock


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def advance(clock: Clock, bar: Progress, *steps: tuple[float, int]) -> None:
    """Let ``seconds`` pass, then report ``n`` more items, for each ``(seconds, n)``."""
    for seconds, n in steps:
        clock.now += seconds
        bar.update(n)


def test_lines_give_done_total_rate_and_time_left_then_a_final_line(clock):
    log = io.StringIO()
    with Progress(300, "openl3 on development", unit="clip", stream=log) as bar:
        assert lines(log) == ["openl3 on development: 0/300 clips"]
        advance(clock, bar, (10, 60))
        assert len(lines(log)) == 1  # 10 s < 30 s: nothing yet
        advance(clock, bar, (50, 60), (80, 180))
    assert lines(log) == [
        "openl3 on development: 0/300 clips",
        "openl3 on development: 120/300 clips (40%), 2 clips/s, 1m30s left",
        "openl3 on development: 300/300 clips in 2m20s (2.14 clips/s)",
    ]


def test_a_line_comes_once_the_interval_has_passed_since_the_last(clock, monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "5")
    log = io.StringIO()
    with Progress(20, "step", unit="clip", stream=log) as bar:
        for _ in range(20):
            clock.now += 2
            bar.update()
    times = [int(m.group(1)) for m in re.finditer(r"step: (\d+)/20 clips \(", log.getvalue())]
    assert times == [3, 6, 9, 12, 15, 18]  # every 6 s: the first update at least 5 s after the last line
    assert lines(log)[-1] == "step: 20/20 clips in 40s (0.5 clips/s)"


def test_resumed_steps_rate_only_this_runs_items_and_show_the_postfix(clock, monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "0")  # a line on every update
    log = io.StringIO()
    with Progress(10, "training", unit="epoch", initial=4, stream=log) as bar:
        bar.set_postfix({"train_loss": "0.412", "val_loss": "0.398"})
        advance(clock, bar, (4, 1), (4, 5))
    assert lines(log) == [
        "training: 4/10 epochs",
        "training: 5/10 epochs (50%), 0.25 epochs/s, 20s left, train_loss 0.412, val_loss 0.398",
        "training: 10/10 epochs in 8.0s (0.75 epochs/s), train_loss 0.412, val_loss 0.398",
    ]


def test_a_step_stuck_in_one_long_item_still_reports_every_interval(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "0.2")
    log = io.StringIO()
    with Progress(64, "openl3 on development", unit="clip", stream=log):
        time.sleep(0.75)  # one chunk, no update
        beats = lines(log)[1:]
    assert 2 <= len(beats) <= 4
    assert all(re.fullmatch(r"openl3 on development: 0/64 clips \(0%\), \d\.\ds elapsed, rate not known yet", b) for b in beats)


def test_downloads_show_sizes_and_an_unknown_total_has_no_time_left(clock, monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "0")
    log = io.StringIO()
    with Progress(10_000_000, "downloading a.7z", unit="B", stream=log) as bar:
        clock.now += 5
        bar.update(5_000_000)
    assert lines(log)[1] == "downloading a.7z: 5 MB/10 MB (50%), 1 MB/s, 5.0s left"
    log = io.StringIO()
    with Progress(None, "downloading b.csv", unit="B", stream=log) as bar:
        clock.now += 2
        bar.update(3000)
    assert lines(log) == ["downloading b.csv: 0 B", "downloading b.csv: 3 kB, 1.5 kB/s", "downloading b.csv: 3 kB in 2.0s (1.5 kB/s)"]


def test_a_failed_step_says_where_it_stopped(clock):
    log = io.StringIO()
    with pytest.raises(KeyboardInterrupt), Progress(8, "captions of validation", unit="clip", stream=log) as bar:
        clock.now += 90
        bar.update(2)
        raise KeyboardInterrupt
    assert lines(log)[-1] == "captions of validation: stopped at 2/8 clips after 1m30s"


def test_disabled_steps_and_other_torchrun_ranks_print_nothing(clock, monkeypatch):
    log = io.StringIO()
    with Progress(3, "training", stream=log, disable=True) as bar:
        bar.update(3)
    monkeypatch.setenv("RANK", "1")
    with Progress(3, "training", stream=log) as bar:
        bar.update(3)
    assert log.getvalue() == ""
    with Progress(3, "training", stream=log, disable=False) as bar:
        bar.update(3)
    assert lines(log)[0] == "training: 0/3 items"


def test_a_terminal_gets_tqdms_bar_and_no_lines(clock, monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "0")
    screen = Terminal()
    with Progress(300, "openl3 on development", unit="clip", stream=screen) as bar:
        bar.update(120)
        bar.set_postfix({"train_loss": "0.412"})
    text = screen.getvalue()
    assert "\r" in text and "openl3 on development:   0%|" in text and "0/300 [" in text
    assert "\n" not in text and "clips" not in text


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "2.5")
    assert Progress(1, "x").interval == 2.5
    monkeypatch.setenv("BENCH_PROGRESS_SECONDS", "soon")
    with pytest.raises(BenchError, match="BENCH_PROGRESS_SECONDS='soon'"):
        Progress(1, "x")
    monkeypatch.delenv("BENCH_PROGRESS_SECONDS")
    assert Progress(1, "x").interval == 30


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0s"), (4.31, "4.3s"), (45, "45s"), (86, "1m26s"), (7500, "2h05m")])
def test_durations_read_like_a_clock(seconds, text):
    assert duration(seconds) == text

"""Progress of long steps, readable both on a terminal and in a log.

Every long step (feature extraction, training epochs, downloads, dataset generation)
reports through :class:`Progress` rather than tqdm directly. On a terminal it draws
tqdm's bar. Anywhere else (a log file, CI, ``nohup``) tqdm either prints nothing or fills
the log with carriage returns, and a 40-minute extraction looked like a hang; there it
writes plain lines to stderr instead, flushed:

.. code-block:: text

    openl3 on development: 0/300 clips
    openl3 on development: 120/300 clips (40%), 2.1 clips/s, 1m26s left
    openl3 on development: 300/300 clips in 2m20s (2.1 clips/s)

one when the step starts, one whenever ``interval`` seconds have passed since the last
(default 30; the environment variable ``BENCH_PROGRESS_SECONDS`` overrides it, 0 prints
every update), and one when it ends. Postfix values (a training epoch's losses) are
appended to the lines.

The clock is checked on each update, but one item can take longer than the interval (a
cache chunk of 32 long clips through OpenL3 takes minutes on a CPU, and experts batch a
whole chunk, so there is nothing to count inside it); so while a step is open a heartbeat
thread repeats its current state whenever no line came for ``interval`` seconds, and a log
never goes quiet for longer than that while a step runs.

Under ``torchrun`` only rank 0 reports: steps are quiet in processes whose ``RANK`` is
not 0 unless ``disable=False`` is passed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any, Mapping

from benchmark.errors import BenchError

#: Environment variable overriding the seconds between plain progress lines.
INTERVAL_VARIABLE = "BENCH_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 30.0

_clock = time.monotonic  # tests replace it


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default: the current stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def reporting_rank() -> bool:
    """Whether this process reports progress: any process but a non-zero ``torchrun`` rank."""
    return os.environ.get("RANK", "0") in ("", "0")


def interval_seconds() -> float:
    """Seconds between plain progress lines: ``$BENCH_PROGRESS_SECONDS``, else 30."""
    value = os.environ.get(INTERVAL_VARIABLE, "").strip()
    if not value:
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise BenchError(f"{INTERVAL_VARIABLE}={value!r}: expected a number of seconds, 0 or more")
    return seconds


def duration(seconds: float) -> str:
    """``4.2s``, ``45s``, ``1m26s``, ``2h05m``."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


class Progress:
    """One long step's progress: ``with Progress(total, desc, unit="clip") as bar: bar.update(n)``.

    ``total`` may be None when unknown (a download without a length). ``initial`` counts
    items already done by an interrupted run; the rate counts only this run's. Bytes
    (``unit="B"``) are written with SI prefixes (``12.6 MB``). ``disable=True`` prints nothing;
    the default, None, prints unless this is a non-zero ``torchrun`` rank. ``stream``
    defaults to the current stderr; lines come every :func:`interval_seconds`.
    """

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str = "item",
        initial: float = 0,
        disable: bool | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit == "B"
        self.n = self.initial = initial
        self.postfix: dict[str, Any] = {}
        self.stream = sys.stderr if stream is None else stream
        if disable is None:
            disable = not reporting_rank()
        self.mode = "quiet" if disable else "bar" if is_terminal(self.stream) else "lines"
        self.interval = interval_seconds()
        self._bar: Any = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._started = self._last_line = 0.0

    # -- the step ----------------------------------------------------------------------
    def __enter__(self) -> Progress:
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total, initial=self.initial, desc=self.desc, unit=self.unit, unit_scale=self.unit_scale,
                leave=False, file=self.stream,
            )
        elif self.mode == "lines":
            self._started = self._last_line = _clock()
            self._write(f"{self.desc}: {self._amounts()}")
            if self.interval > 0:
                self._heartbeat = threading.Thread(target=self._beat, name=f"progress: {self.desc}", daemon=True)
                self._heartbeat.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        self.close(failed=exc_type is not None)

    def update(self, n: float = 1) -> None:
        """``n`` more items done; a line if the interval has passed (and the step goes on)."""
        if self._bar is not None:
            self._bar.update(n)
            return
        with self._lock:
            self.n += n
            unfinished = self.total is None or self.n < self.total
            if self.mode == "lines" and unfinished and _clock() - self._last_line >= self.interval:
                self._write(self._state())

    def set_postfix(self, postfix: Mapping[str, Any]) -> None:
        """Values shown after the counts (``train_loss``, ``val_loss``…) from now on."""
        if self._bar is not None:
            self._bar.set_postfix(postfix)
        with self._lock:
            self.postfix = dict(postfix)

    def close(self, failed: bool = False) -> None:
        """End the step: the bar is removed, or the final line written (``stopped at`` when ``failed``)."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            with self._lock:
                elapsed = _clock() - self._started
                if failed:
                    self._write(f"{self.desc}: stopped at {self._amounts()} after {duration(elapsed)}")
                else:
                    rate = self._rate(elapsed)
                    self._write(f"{self.desc}: {self._amounts()} in {duration(elapsed)}" + (f" ({rate})" if rate else ""))

    # -- plain lines -------------------------------------------------------------------
    def _beat(self) -> None:
        """Repeat the state whenever no line came for ``interval`` seconds, until closed."""
        while not self._closed.wait(max(self._last_line + self.interval - _clock(), 0.01)):
            with self._lock:
                if not self._closed.is_set() and _clock() - self._last_line >= self.interval:
                    self._write(self._state())

    def _state(self) -> str:
        """``desc: 120/300 clips (40%), 2.1 clips/s, 1m26s left[, postfix]``."""
        elapsed = _clock() - self._started
        parts = [self._amounts()]
        if self.total:
            parts[0] += f" ({int(100 * self.n / self.total)}%)"
        rate = self._rate(elapsed)
        if rate is None:
            parts.append(f"{duration(elapsed)} elapsed, rate not known yet")
        else:
            parts.append(rate)
            if self.total:
                speed = (self.n - self.initial) / elapsed
                parts.append(f"{duration(max(self.total - self.n, 0) / speed)} left")
        return f"{self.desc}: " + ", ".join(parts)

    def _amounts(self) -> str:
        """``120/300 clips``, ``12.6 MB/145 MB`` or, with no total, ``120 clips``."""
        if self.unit_scale:
            done = self._scaled(self.n)
            return done if self.total is None else f"{done}/{self._scaled(self.total)}"
        done = _number(self.n) if self.n != int(self.n) else str(int(self.n))
        total = "" if self.total is None else f"/{int(self.total)}"
        return f"{done}{total} {self.unit}s"

    def _rate(self, elapsed: float) -> str | None:
        """``2.1 clips/s`` over this run's items, None before any item is done."""
        processed = self.n - self.initial
        if processed <= 0 or elapsed <= 0:
            return None
        speed = processed / elapsed
        return f"{self._scaled(speed)}/s" if self.unit_scale else f"{_number(speed)} {self.unit}s/s"

    def _scaled(self, value: float) -> str:
        for prefix in ("", "k", "M", "G", "T"):
            if abs(value) < 999.5:
                break
            value /= 1000
        return f"{value:.3g} {prefix}{self.unit}"

    def _write(self, line: str) -> None:
        self._last_line = _clock()
        line += "".join(f", {key} {value}" for key, value in self.postfix.items())
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # stderr closed (a broken pipe): progress is not worth an error
            pass


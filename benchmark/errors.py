"""The one exception type users see: a message that names the culprit and what to do."""

from __future__ import annotations

import contextlib
import difflib
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:
    from pydantic import ValidationError


class BenchError(Exception):
    """An error the CLI reports as one line, without a traceback."""


@contextlib.contextmanager
def naming(label: str) -> Iterator[None]:
    """Start any :class:`BenchError` raised inside with ``label``, the plugin at work
    (``dataset 'hf'``): the harness names a plugin in its errors, so a plugin never types
    its own registered name. A message that already starts with it is left alone; the
    error keeps its type and traceback."""
    try:
        yield
    except BenchError as exc:
        message = str(exc)
        if not message.startswith(label):
            exc.args = (f"{label}: {message}",)
        raise


def unknown_name(kind: str, name: str, available: Iterable[str], hint: str = "") -> BenchError:
    """Build the 'unknown X; did you mean Y' error used for every name a user types."""
    names = sorted(available)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    message = f"unknown {kind} {name!r}"
    message += f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    message += f" Available: {', '.join(names) if names else '(none)'}."
    if hint:
        message += f" {hint}"
    return BenchError(message)


def first_problem(exc: ValidationError) -> tuple[dict[str, Any], str, str]:
    """The first error pydantic found: the error itself, where (``schedule.epochs``), and
    its message without pydantic's ``Value error,`` prefix."""
    error = dict(exc.errors()[0])
    return error, ".".join(str(part) for part in error["loc"]), error["msg"].removeprefix("Value error, ")

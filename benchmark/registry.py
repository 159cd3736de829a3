"""Loud, lazy registries: one per plugin kind.

Duplicate names raise with both distributions named; unknown names suggest the closest
ones; targets given as ``"module:attribute"`` strings are imported on first use only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from benchmark.errors import BenchError, naming, unknown_name

#: Plugin kinds (plural, as the ``register_<kind>`` hooks name them), in the order
#: ``bench list`` shows them, each with its singular for messages ("unknown loss").
KINDS: dict[str, str] = {
    "experts": "expert",
    "heads": "head",
    "fusions": "fusion",
    "losses": "loss",
    "text_encoders": "text_encoder",
    "datasets": "dataset",
    "systems": "system",
    "plots": "plot",
    "miners": "miner",
}


def label(kind: str, name: str) -> str:
    """How messages name plugin ``name`` of ``kind``: ``dataset 'hf'``."""
    return f"{KINDS[kind]} {name!r}"


def kind_of(name: str) -> str | None:
    """The kind a user means by ``name``, singular or plural (``loss`` or ``losses``), or None."""
    if name in KINDS:
        return name
    return next((kind for kind, one in KINDS.items() if one == name), None)


@dataclass(frozen=True)
class Entry:
    """One registered plugin: what it is called, where it came from, how to load it."""

    kind: str
    name: str
    target: Any
    plugin: str
    distribution: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return str(self.metadata.get("description", ""))

    @property
    def origin(self) -> str:
        """``distribution (plugin)`` as shown in listings and error messages."""
        return f"{self.distribution} ({self.plugin})"

    def load(self) -> Any:
        """Return the target, importing it if it was registered as ``"module:attribute"``."""
        if not isinstance(self.target, str) or ":" not in self.target:
            return self.target
        module_name, _, attribute = self.target.partition(":")
        try:
            value: Any = importlib.import_module(module_name)
            for part in attribute.split("."):
                value = getattr(value, part)
        except Exception as exc:  # noqa: BLE001 - any failure is the plugin's, say so
            raise BenchError(
                f"{KINDS[self.kind]} {self.name!r} from {self.origin} failed to load "
                f"{self.target!r}: {type(exc).__name__}: {exc}"
            ) from exc
        return value


class Registry:
    """Name → :class:`Entry` for one plugin kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._conflicts: dict[str, BenchError] = {}

    def add(self, entry: Entry) -> None:
        """Add ``entry``; a name registered twice raises, and stays unusable afterwards."""
        if not entry.name or not isinstance(entry.name, str):
            raise BenchError(f"{entry.origin} registered a {KINDS[self.kind]} with an invalid name {entry.name!r}")
        existing = self._entries.get(entry.name)
        if existing is not None:
            error = BenchError(
                f"{KINDS[self.kind]} {entry.name!r} is registered twice: by {existing.origin} and by "
                f"{entry.origin}; uninstall one of them or rename its plugin"
            )
            self._conflicts[entry.name] = error
            raise error
        self._entries[entry.name] = entry

    def get(self, name: str) -> Entry:
        """The entry called ``name``; unknown or ambiguous names raise a :class:`BenchError`."""
        if name in self._conflicts:
            raise self._conflicts[name]
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(KINDS[self.kind], name, self._entries) from None

    def load(self, name: str) -> Any:
        return self.get(name).load()

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)


def check_options(factory: Any, options: Mapping[str, Any], what: str, flag: str, fixed: Iterable[str] = ()) -> None:
    """Refuse an option ``factory`` does not take (or one the harness sets itself) in one
    line naming ``what`` and ``flag``, without calling it."""
    import inspect

    try:
        parameters = dict(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        parameters = {}
    fixed = set(fixed)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in options if k not in parameters and not accepts_any]
    if unknown or set(options) & fixed:
        known = [p for p in parameters if p not in fixed and p != "self"]
        bad = unknown[0] if unknown else sorted(set(options) & fixed)[0]
        raise BenchError(f"{what} has no option {bad!r} ({flag}); options: {', '.join(known) or '(none)'}")


def instantiate(factory: Any, options: dict[str, Any], what: str, flag: str, **fixed: Any) -> Any:
    """Call a plugin factory with the harness's ``fixed`` arguments plus user ``options``,
    turning an unknown or bad option into a one-line error that names ``what`` and ``flag``;
    the factory's own errors are named after ``what`` too (:func:`benchmark.errors.naming`)."""
    check_options(factory, options, what, flag, fixed)
    try:
        with naming(what):
            return factory(**fixed, **options)
    except BenchError:
        raise
    except (TypeError, ValueError) as exc:
        raise BenchError(f"{what}: bad options {options}: {exc}") from exc

"""Plugin discovery: the ``bench`` entry-point group, loaded through pluggy.

Built-in plugins and third-party ones take the same path: every module named in the
``bench`` entry-point group is imported and registered with pluggy, then each
``register_<kind>`` hook implementation is called with its own ``register`` callback, so
each registration is attributed to the distribution it came from and a failing plugin
is reported without taking the others down.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
from dataclasses import dataclass
from typing import Any, Iterable

import pluggy

from benchmark import hookspecs
from benchmark.errors import BenchError
from benchmark.registry import KINDS, Entry, Registry, check_options, instantiate, label


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to import or to register, kept for reporting."""

    plugin: str
    distribution: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} from {self.distribution} failed: {self.error}"


class PluginManager:
    """The harness's only global state: loaded plugins and the registries they filled."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._distributions: dict[str, str] = {}
        self._registries: dict[str, Registry] = {}
        self.failures: list[PluginFailure] = []

    # -- loading ---------------------------------------------------------------------
    def load_entry_points(self, group: str = hookspecs.ENTRY_POINT_GROUP) -> None:
        """Import and register every plugin module advertised in ``group``."""
        for entry_point in metadata.entry_points(group=group):
            distribution = entry_point.dist.name if entry_point.dist else "unknown distribution"
            if self._pm.has_plugin(entry_point.name):
                self.failures.append(
                    PluginFailure(
                        entry_point.name,
                        distribution,
                        f"entry point name already used by {self._distributions[entry_point.name]}",
                    )
                )
                continue
            try:
                module = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - report any import failure by name
                self.failures.append(PluginFailure(entry_point.name, distribution, f"{type(exc).__name__}: {exc}"))
                continue
            self.add_plugin(module, entry_point.name, distribution)

    def add_plugin(self, plugin: Any, name: str, distribution: str) -> None:
        """Register a plugin object directly (tests and embedding applications use this)."""
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors, bad hook names
            self.failures.append(PluginFailure(name, distribution, f"{type(exc).__name__}: {exc}"))
            return
        self._distributions[name] = distribution
        self._registries.clear()

    # -- registries ------------------------------------------------------------------
    def registry(self, kind: str) -> Registry:
        """The registry for ``kind``, filled on first use by calling ``register_<kind>``."""
        if kind not in KINDS:
            raise BenchError(f"unknown plugin kind {kind!r}; kinds are {', '.join(KINDS)}")
        if kind not in self._registries:
            self._registries[kind] = self._collect(kind)
        return self._registries[kind]

    def _collect(self, kind: str) -> Registry:
        registry = Registry(kind)
        hook = getattr(self._pm.hook, f"register_{kind}")
        # pluggy calls the last registered implementation first; reverse for load order.
        for impl in reversed(hook.get_hookimpls()):
            plugin_name = impl.plugin_name
            distribution = self._distributions.get(plugin_name, "unknown distribution")

            def register(name: str, target: Any, _p: str = plugin_name, _d: str = distribution, **meta: Any) -> None:
                registry.add(Entry(kind, name, target, _p, _d, dict(meta)))

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - one plugin's bug must not hide the others
                self.failures.append(PluginFailure(plugin_name, distribution, f"{type(exc).__name__}: {exc}"))
        return registry

    def entries(self, kinds: Iterable[str] = KINDS) -> list[Entry]:
        return [entry for kind in kinds for entry in self.registry(kind)]

    def get(self, kind: str, name: str) -> Entry:
        return self.registry(kind).get(name)

    def load(self, kind: str, name: str) -> Any:
        return self.registry(kind).get(name).load()

    def create(self, kind: str, spec: dict[str, Any], where: str, **fixed: Any) -> Any:
        """Instantiate the plugin ``spec["name"]`` of ``kind`` with the rest of ``spec`` as
        settings and the harness's own ``fixed`` arguments; ``where`` names the setting
        the user would edit when an option is wrong."""
        settings = {k: v for k, v in spec.items() if k != "name"}
        factory = self.load(kind, spec["name"])
        return instantiate(factory, settings, label(kind, spec["name"]), where, **fixed)

    def check(self, kind: str, spec: dict[str, Any], where: str, fixed: Iterable[str] = ()) -> None:
        """Refuse an option the plugin ``spec["name"]`` does not take, without creating it
        (``fixed``: the arguments the harness passes itself)."""
        settings = {k: v for k, v in spec.items() if k != "name"}
        check_options(self.load(kind, spec["name"]), settings, label(kind, spec["name"]), where, fixed)


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, with every installed plugin loaded."""
    manager = PluginManager()
    manager.load_entry_points()
    return manager

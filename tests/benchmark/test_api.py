"""``benchmark.api`` is the one import surface for plugins, and no import circle remains (issue 15).

The checks read the sources with :mod:`ast`, so they see every import a plugin makes,
those inside functions included, without importing torch or the plugins' dependencies.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from benchmark import api, hookspecs

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "benchmark.api"


def plugin_sources() -> list[Path]:
    """Every plugin source under ``plugins/`` and ``examples/``: not their tests (which may
    reach into the harness to check it) nor setuptools' ``build/`` copies."""
    paths = [p for top in ("plugins", "examples") for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in paths if not {"tests", "build"} & set(p.relative_to(ROOT).parts)]


def private_imports(source: str, where: str) -> list[str]:
    """``where:line: statement`` for each import of a ``benchmark`` module other than the API."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "benchmark":
                modules = [f"benchmark.{alias.name}" for alias in node.names]
            else:
                modules = [node.module]
        else:
            continue
        for module in modules:
            if (module == "benchmark" or module.startswith("benchmark.")) and module != PUBLIC:
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_plugins_import_the_harness_through_benchmark_api_only():
    sources = plugin_sources()
    assert ROOT / "plugins" / "datasets" / "clotho.py" in sources
    assert ROOT / "plugins" / "experts" / "vggish" / "bench_vggish" / "expert.py" in sources
    assert ROOT / "examples" / "bench-expert-example" / "bench_expert_example" / "plugin.py" in sources
    found = [line for path in sources for line in private_imports(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, "plugins import benchmark modules other than benchmark.api:\n" + "\n".join(found)


def test_private_imports_are_found_anywhere_in_a_module():
    source = (
        "import benchmark\n"
        "import numpy, benchmark.io\n"
        "from benchmark import api, data\n"
        "from benchmark.api import Split\n"
        "from . import sibling\n"
        "def f():\n"
        "    from benchmark.download import fetch\n"
    )
    assert private_imports(source, "m.py") == [
        "m.py:1: import benchmark",
        "m.py:2: import numpy, benchmark.io",
        "m.py:3: from benchmark import api, data",
        "m.py:7: from benchmark.download import fetch",
    ]


def test_every_api_name_the_hookspecs_mention_exists():
    source = Path(hookspecs.__file__).read_text()
    named = set(re.findall(r"benchmark\.api\.(\w+)", source))
    assert {"Expert", "Dataset", "Split", "TextEncoder", "LossInput", "LossContext"} <= named
    assert sorted(named - set(api.__all__)) == []
    for name in named:
        assert getattr(api, name) is not None
    # The contract sends plugin authors to the API, never to the harness's own modules.
    assert re.findall(r"benchmark\.(?!api\b)\w+\.\w+", source) == []


def test_every_exported_name_resolves():
    assert len(set(api.__all__)) == len(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert set(api.__all__) <= set(dir(api))
    from benchmark import data

    assert data.Split is api.Split  # the harness's modules still find it where they did


def test_importing_the_api_and_the_plugins_entry_points_loads_no_torch():
    # What `bench list` imports: the API and each built-in plugin's entry-point module; the
    # helpers' modules load when a plugin first asks for a helper.
    code = (
        "import sys, benchmark.api, bench_plugins.experts, bench_plugins.heads, bench_plugins.fusions, "
        "bench_plugins.losses, bench_plugins.datasets, bench_plugins.text, bench_plugins.systems\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy')\n"
        "         or m in ('urllib.request', 'tarfile', 'benchmark.data', 'benchmark.download')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def module_level_imports(path: Path, package: str) -> set[str]:
    """The ``package`` modules ``path`` imports when it is imported: statements anywhere but
    inside a function (``if TYPE_CHECKING:`` blocks count: a circle for the type checker is
    still a circle)."""
    modules = {p.stem for p in (ROOT / package).glob("*.py")}
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith(package + "."))
            elif isinstance(child, ast.ImportFrom):
                base = package if child.level else child.module or ""
                if child.level and child.module:
                    base = f"{package}.{child.module}"
                if base == package:  # `from benchmark import hookspecs`
                    found.update(f"{package}.{a.name}" for a in child.names if a.name in modules)
                elif base.startswith(package + "."):
                    found.add(base)
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as ``[a, b, …, a]``, or None when it is acyclic."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_harness_has_no_import_circle():
    graph = {f"benchmark.{p.stem}": module_level_imports(p, "benchmark") for p in (ROOT / "benchmark").glob("*.py")}
    assert "benchmark.api" in graph["benchmark.data"]  # data may import the API ...
    assert graph["benchmark.api"] <= {"benchmark.errors", "benchmark.hookspecs"}  # ... not the reverse
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_check_sees_circles_and_type_checking_imports(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from benchmark.errors import BenchError\n"
        "from benchmark import hookspecs, not_a_module\n"
        "if TYPE_CHECKING:\n"
        "    from benchmark.data import Split\n"
        "class C:\n"
        "    import benchmark.io\n"
        "def f():\n"
        "    from benchmark.runner import run\n"
    )
    assert module_level_imports(module, "benchmark") == {
        "benchmark.errors", "benchmark.hookspecs", "benchmark.data", "benchmark.io",
    }

"""Built-in systems: every ``*.yaml`` file beside this module, named by its file stem."""

from pathlib import Path

from benchmark.hookspecs import hookimpl

HERE = Path(__file__).parent


@hookimpl
def register_systems(register):
    from benchmark.config import load_system_file

    for path in sorted(HERE.glob("*.yaml")):
        description = load_system_file(path).get("description", "")
        register(path.stem, path, description=description.split(". ")[0].rstrip("."))

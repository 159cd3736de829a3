"""Built-in systems: every ``*.yaml`` file beside this module, named by its file stem."""

from pathlib import Path

from benchmark.hookspecs import hookimpl

HERE = Path(__file__).parent


@hookimpl
def register_systems(register):
    import yaml

    for path in sorted(HERE.glob("*.yaml")):
        description = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("description", "")
        register(path.stem, path, description=description.split(". ")[0].rstrip("."))

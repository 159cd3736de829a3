"""Built-in systems: every ``*.yaml`` file beside this module, named by its file stem,
plus one single-expert ablation of ``cider_relax`` per expert it lists."""

import re
from pathlib import Path

from benchmark.api import hookimpl

HERE = Path(__file__).parent


@hookimpl
def register_systems(register):
    from benchmark.api import component, load_system_file

    for path in sorted(HERE.glob("*.yaml")):
        description = load_system_file(path).get("description", "")
        # The first sentence (a period followed by a capital ends it; "et al. (2021)" does not).
        register(path.stem, path, description=re.split(r"\.\s+(?=[A-Z])", description)[0].rstrip("."))

    for expert in map(component, load_system_file(HERE / "cider_relax.yaml")["experts"]):
        description = f"Ablation of cider_relax: the {expert['name']} expert alone"
        register(
            f"cider_relax_{expert['name']}",
            {"include": "cider_relax", "experts": [expert], "description": description},
            description=description,
        )

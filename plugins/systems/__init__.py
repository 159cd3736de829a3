"""Built-in systems: every ``*.yaml`` file beside this module, named by its file stem,
plus one single-expert ablation of ``cider_relax`` per expert it lists."""

from pathlib import Path

from benchmark.api import hookimpl

HERE = Path(__file__).parent


@hookimpl
def register_systems(register):
    from benchmark.api import component, load_system_file, register_system_files

    register_system_files(register, HERE)

    for expert in map(component, load_system_file(HERE / "cider_relax.yaml")["experts"]):
        description = f"Ablation of cider_relax: the {expert['name']} expert alone"
        register(
            f"cider_relax_{expert['name']}",
            {"include": "cider_relax", "experts": [expert], "description": description},
            description=description,
        )

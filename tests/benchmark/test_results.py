import re
from pathlib import Path

from benchmark.results import environment, result_path, run_dir


def test_layout_of_result_files_and_run_state():
    assert result_path(Path("r"), "clotho_v2", "cider_relax", 3) == Path("r/clotho_v2/cider_relax/seed-3.json")
    assert run_dir(Path("r"), "clotho_v2", "cider_relax", 3) == Path("r/clotho_v2/cider_relax/seed-3.run")


def test_environment_records_versions_and_the_commit():
    env = environment()
    assert env["packages"]["torch"] and env["packages"]["numpy"]
    commit = env["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)

"""Mutation testing of the modules that carry the report's maths and the harness's
guarantees: ``tox -e mutation`` runs ``python mutmut_config.py`` (mutmut mutates the
checkout's files in place, one mutant at a time, and restores them: do not edit the tree
meanwhile), then lists the survivors.

Each module's mutants are judged by the tests of that module, so a run takes minutes. Lines
that only build a message (``raise ...(...)``, a string continuing one) are not mutated: a
changed word in an error message is not a wrong result.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

#: Module → the tests that judge its mutants (the slow end-to-end tests stay out).
TESTS: dict[str, tuple[str, ...]] = {
    "benchmark/metrics.py": ("tests/benchmark/test_metrics.py",),
    "benchmark/checkpoints.py": ("tests/benchmark/test_checkpoints.py", "tests/benchmark/test_train.py"),
    "benchmark/cache.py": ("tests/benchmark/test_cache.py",),
    "benchmark/download.py": ("tests/benchmark/test_download.py", "tests/benchmark/test_weights.py"),
    "benchmark/archive.py": ("tests/benchmark/test_archive.py",),
    "plugins/losses/ranking.py": ("tests/plugins/test_ranking_loss.py",),
    "plugins/losses/relax.py": ("tests/plugins/test_relax.py", "tests/plugins/test_ranking_loss.py"),
    "plugins/losses/cider.py": ("tests/plugins/test_cider.py",),
    "plugins/losses/infonce.py": ("tests/plugins/test_infonce_loss.py",),
    "plugins/fusions/mean.py": ("tests/plugins/test_mean_fusion.py", "tests/benchmark/test_model.py"),
    "plugins/fusions/moee.py": ("tests/plugins/test_moee.py",),
    "plugins/heads/pooling.py": ("tests/plugins/test_pooling_heads.py",),
    "plugins/heads/transformer.py": ("tests/plugins/test_transformer_head.py",),
}

_MESSAGE = re.compile(r"""^(raise \w+\(|f?["'])""")


def _pytest(tests: Iterable[str]) -> str:
    return f"python -m pytest -x -q -p no:cacheprovider -m 'not slow' {' '.join(tests)}"


def pre_mutation(context: Any) -> None:
    """Skip message-only lines; run the mutated module's own tests."""
    if _MESSAGE.match(context.current_source_line.strip()):
        context.skip = True
        return
    context.config.test_command = _pytest(TESTS[context.filename])


def score(modules: Iterable[str]) -> str:
    """Per module: mutants killed, survived, timed out and skipped, and the mutation score
    killed / (all - skipped), read from mutmut's cache."""
    import sqlite3

    counts: dict[str, dict[str, int]] = {module: {} for module in modules}
    with sqlite3.connect(".mutmut-cache") as db:
        rows = db.execute(
            "SELECT s.filename, m.status, COUNT(*) FROM Mutant m JOIN Line l ON m.line = l.id "
            "JOIN SourceFile s ON l.sourcefile = s.id GROUP BY s.filename, m.status"
        )
        for filename, status, n in rows:
            if filename in counts:
                counts[filename][status] = n
    lines, totals = [], {"killed": 0, "judged": 0}
    for module, by_status in counts.items():
        killed = by_status.get("ok_killed", 0) + by_status.get("bad_timeout", 0) + by_status.get("ok_suspicious", 0)
        judged = sum(by_status.values()) - by_status.get("skipped", 0) - by_status.get("untested", 0)
        totals["killed"] += killed
        totals["judged"] += judged
        lines.append(f"{module:32} {killed:4}/{judged:<4} killed  {by_status.get('skipped', 0):3} skipped  "
                     f"{100 * killed / max(judged, 1):5.1f}%")
    lines.append(f"{'all':32} {totals['killed']:4}/{totals['judged']:<4} killed  "
                 f"{100 * totals['killed'] / max(totals['judged'], 1):5.1f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    # `python mutmut_config.py [--paths-to-mutate A,B] [mutmut run options]`: the baseline
    # runs the judging tests of those modules (default: all of TESTS) once (mutmut times a
    # mutant out at 10x the baseline), then each mutant its own module's.
    import argparse
    import subprocess
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--paths-to-mutate", default=",".join(TESTS))
    args, rest = parser.parse_known_args()
    modules = args.paths_to_mutate.split(",")
    unknown = [m for m in modules if m not in TESTS]
    if unknown:
        sys.exit(f"no tests are named for {', '.join(unknown)} in mutmut_config.TESTS")
    baseline = _pytest(dict.fromkeys(test for module in modules for test in TESTS[module]))
    code = subprocess.call(["mutmut", "run", "--paths-to-mutate", ",".join(modules), "--runner", baseline, *rest])
    print(score(modules))
    sys.exit(code)

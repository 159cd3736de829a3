"""Mutation testing of the modules that carry the report's maths and the harness's
guarantees: ``tox -e mutation`` runs ``python mutmut_config.py`` (mutmut mutates the
checkout's files in place, one mutant at a time, and restores them: do not edit the tree
meanwhile), then lists the survivors.

Each module's mutants are judged by the tests of that module, so a run takes minutes. Lines
that only build a message (``raise ...(...)``, a string continuing one) or a description
(``source="..."``) are not mutated, nor lines marked ``# pragma: no mutate`` (a message
assembled in parts): a changed word in a message is not a wrong result.
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
    "benchmark/conventions.py": ("tests/benchmark/test_conventions.py", "tests/benchmark/test_queries.py"),
    "benchmark/queries.py": ("tests/benchmark/test_queries.py", "tests/benchmark/test_rescoring.py"),
    "benchmark/rescoring.py": ("tests/benchmark/test_rescoring.py", "tests/benchmark/test_queries.py"),
    "benchmark/predictions.py": ("tests/benchmark/test_predictions.py", "tests/benchmark/test_external.py"),
    "benchmark/external.py": ("tests/benchmark/test_external.py",),
}

#: Surviving mutants judged equivalent: no input can tell them from the code. By module,
#: what changes and why it cannot change a result.
EQUIVALENT: dict[str, tuple[str, ...]] = {
    "benchmark/checkpoints.py": ("`Ranked = None`: a type alias read only in annotations, which are never evaluated",),
    "benchmark/cache.py": (
        "`ComputeFn = None`: an annotation-only alias",
        "`SequenceStore.directory = None`: nothing reads it",
        "the DamagedEntry message text (a `super().__init__(f...)` line)",
        "entry hash length 16 -> 17: every entry is named the same new way; old entries are recomputed, never misread",
        "names in the damaged-entry delete list: the marker goes first and a pack rewrites every file before a new one",
        "`get_or_compute` defaults of chunk_size and desc: every caller passes both",
        "`break` -> `continue` twice: `complete` stays true, so the later passes leave at once",
        "`unlink(missing_ok=False)` in the lock holder's `finally`: nobody removes a live holder's lock",
        "the lock poll interval 0.2 -> 1.2 s",
        "`astype(copy=True)`: the same values",
    ),
    "benchmark/download.py": (
        "`frozen=False` on RemoteFile: nothing hashes or changes one",
        "`str & None` three times: annotations, never evaluated",
        "`sha256_prefix` default '' for None: `startswith('')` holds like the absent prefix",
        "two message strings, and `os.environ.get`'s default '' -> 'XXXX' in offline(): neither is an accepted value",
        "`usedforsecurity=True`: the same digest (outside FIPS builds)",
        "read block size 1 -> 2 MiB (four places), digest cache size 64 -> 65, network timeout 60 -> 61 s",
        "key names in the `.verified` record: written and read by the same code",
        "`missing_ok=False` where the `.part` file always exists",
        "`rstrip('XX/XX')`: differs only for a mirror URL ending in an upper-case X",
        "defaults of `what` and `hint`: message text every caller passes",
    ),
    "benchmark/archive.py": (
        "`frozen=False` on Member",
        "the `is_dir` default and its field: nothing reads it",
        "the `is_link` default None for False: both falsy",
        "`rmtree(ignore_errors=False)` on the failure path, where the staging folder exists",
    ),
    "plugins/losses/ranking.py": (
        "`list[float] & None`: an annotation",
        "`s.shape[0]` -> `s.shape[1]` twice: the clip similarity matrix is square",
    ),
    "plugins/losses/relax.py": (
        "VERSION 1 -> 2 or None: only the cache's namespace changes",
        "the fallback clip names' text (message only)",
        "`matrix.shape[0]` -> `[1]`: the matrix is square",
        "`pairs < MIN_PAIRS` -> `<=`: n(n-1)/2 is never 100",
        "the CIDEr cache key's field names and hash lengths, its folder name, the percentiles file name and its"
        " 'percentiles' field (never read back): renamed consistently, the same hits and misses",
        "`* 1.0` -> `/ 1.0` in the step of equal thresholds",
    ),
    "plugins/losses/cider.py": (
        "which n-gram columns go to the dense product (five variants of the threshold): both paths are exact",
        "`stop = None` in the blocking loop: each block computes the rest, overwritten by the next; slower, equal",
        "a longer length-penalty table (three variants) and count-axis width `max_t` (two): only entries in range are read",
        "block size 1024 -> 1025",
        "the `empty` placeholder of length 1: its count is 0, so it adds no entry",
        "the scale of a zero-norm n-gram vector 1.0 -> 2.0: the vector is all zeros",
    ),
    "plugins/losses/infonce.py": ("`targets` from `s.shape[1]`: the batch is square",),
    "plugins/fusions/mean.py": ("`dim=-1` -> `dim=+1` twice: the tensors are 2-D",),
    "plugins/fusions/moee.py": (
        "`dim=-1` -> `dim=+1` three times: 2-D tensors",
        "`collaborative = None` for False: both falsy",
    ),
    "plugins/heads/pooling.py": ("`dim=-1` -> `dim=+1` in the concatenation: 2-D tensors",),
    "benchmark/conventions.py": (
        "`source` default '' -> 'XXXX' or None: a convention's description, never computed with",
        "the separator of the duplicate-caption key ' ' -> 'XX XX': identical texts still share a key, different ones"
        " do not",
        "`np.ndarray | None` -> `&` twice: annotations, never evaluated",
        "`np.unique(query[~own])` -> `query[own]` in own_only: every query has its own clip, so the loop visits a"
        " superset, and a query without others adds nothing",
        "own_only dropping the grades: with one relevant clip nDCG is grade-free (g / log2(p + 1) over g), and the"
        " other metrics never read grades",
        "`chunk` 512 -> 513: the rows are counted in other slices, to the same totals",
        "the nDCG discount table one entry longer (k + 3): only its first k entries are read",
    ),
    "benchmark/queries.py": (
        "`Judgement = None` and `QueryList = None`: aliases read only in annotations, which are never evaluated",
        "`tuple[...] | None` -> `&`: an annotation",
        "the grade 1.0 -> 2.0 given to relevant clips without judgements: grades are read only when the judgements"
        " are graded, and without judgements they are not",
        "the zip entry's 4 KiB allowance for the npy header, `>` -> `>=` or 4096 -> 4097: a byte either way; the"
        " header's declared size is then checked against the cap exactly",
    ),
    "benchmark/rescoring.py": (
        "the test-split size 0 -> 1 for a result that lacks it: every record of a split of more than one clip is"
        " refused either way",
        "`> TOLERANCE` -> `>=`: a difference of exactly 1e-6 apart",
        "the word 'protocol' in the reason two runs are not comparable (message text)",
    ),
    "benchmark/predictions.py": (
        "the words 'query' and 'file' handed to the list readers (message text, three places)",
        "`allow_pickle=True` with `mmap_mode='r'`: an object array cannot be memory-mapped, so it is refused either"
        " way and no pickle is loaded",
        "the dtype kinds 'fiu' -> 'XXfiuXX': 'X' is no dtype's kind",
    ),
    "plugins/heads/transformer.py": (
        "`need_weights=True`: the attention weights are computed and discarded",
        "`steps > max_positions` -> `>=`: pooling a sequence to its own length is the identity",
    ),
}

_MESSAGE = re.compile(r"""^(raise \w+\(|f?["']|source=f?["'])""")


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

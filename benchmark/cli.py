"""The ``bench`` command line. Heavy modules are imported inside the commands that use them,
so ``bench list`` and ``bench show`` answer without importing torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from benchmark.errors import BenchError, unknown_name

if TYPE_CHECKING:
    from benchmark.conventions import Convention
    from benchmark.data import PreparedDataset
    from benchmark.plan import RunOptions
    from benchmark.plugins import PluginManager
    from benchmark.rescoring import Stored


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    from benchmark.config import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value, f"{flag} {pair!r}")
    return out


def _manager() -> PluginManager:
    from benchmark.plugins import get_plugin_manager

    manager = get_plugin_manager()
    for failure in manager.failures:
        print(f"warning: {failure}", file=sys.stderr)
    return manager


def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.registry import KINDS, kind_of

    manager = _manager()
    kinds: Sequence[str] = tuple(KINDS)
    if args.kind:
        kind = kind_of(args.kind)
        if kind is None:
            raise unknown_name("plugin kind", args.kind, KINDS)
        kinds = (kind,)
    rows = [(e.name, e.kind, e.distribution, e.description) for e in manager.entries(kinds)]
    width = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("name", "kind", "distribution"))]
    print(f"{'name':<{width[0]}}  {'kind':<{width[1]}}  {'distribution':<{width[2]}}  description")
    for row in rows:
        print(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]:<{width[2]}}  {row[3]}")
    return 1 if manager.failures else 0


def cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from benchmark.config import resolve_system, training_summary

    config = resolve_system(args.system, _manager(), args.set, args.device, args.expert_weights)
    print(yaml.safe_dump(config, sort_keys=False).rstrip())
    print(f"# {training_summary(config)}")
    return 0


def _dataset_args(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None]:
    return _key_values(args.dataset_option, "--dataset-option"), args.data_dir


def _dataset(args: argparse.Namespace, manager: PluginManager) -> PreparedDataset:
    """The ``--dataset`` of a command with its options, its data directory writable."""
    from benchmark import paths
    from benchmark.data import open_dataset

    options, data_dir = _dataset_args(args)
    dataset = open_dataset(manager, args.dataset, options, data_dir or paths.data_root())
    paths.ensure_writable(dataset.data_dir, "data directory")
    return dataset


def _prepared_dataset(args: argparse.Namespace, manager: PluginManager) -> PreparedDataset:
    """The ``--dataset`` of a command, with its options, prepared on disk."""
    dataset = _dataset(args, manager)
    dataset.prepare()
    return dataset


def cmd_prepare(args: argparse.Namespace) -> int:
    dataset = _prepared_dataset(args, _manager())
    print(f"protocol {dataset.plugin.protocol_name}:")
    for role, split in dataset.plugin.protocol.items():
        print(f"  {role:<10} {split:<24} {len(dataset.split(role))} clips")
    for line in dataset.report():
        print(line)
    print(f"ready: {dataset.data_dir}")
    return 0


def _run_options(args: argparse.Namespace, **fields: Any) -> RunOptions:
    """The RunOptions of the flags `run`, `extract` and `sweep` share; ``fields`` sets the rest."""
    from benchmark.plan import RunOptions

    options, data_dir = _dataset_args(args)
    return RunOptions(
        device=args.device, dataset_options=options, overrides=args.set, expert_weights=args.expert_weights,
        data_root=data_dir, cache_root=args.cache_dir, **fields,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.runner import run

    _manager()  # report plugin failures up front
    options = _run_options(args, system=args.system, dataset=args.dataset, seed=args.seed, output=args.output,
                           force=args.force)
    path, result = run(options, log=lambda message: print(message, file=sys.stderr))
    from benchmark.distributed import from_environment

    if not from_environment().main:  # under torchrun, rank 0 reports
        return 0
    from benchmark.plan import run_label

    t2a, a2t, chance = result.text_to_audio, result.metrics["audio_to_text"], result.chance
    print(f"{run_label(result.system, result.overrides)} on {result.dataset} (seed {result.seed}), "
          f"{result.n_clips['test']} test clips:")
    print("  text->audio  " + "  ".join(f"{k} {v:.3f}" for k, v in t2a.items()))
    print("  audio->text  " + "  ".join(f"{k} {v:.3f}" for k, v in a2t.items()))
    print("  chance       " + "  ".join(f"{k} {v:.3f}" for k, v in chance.items()))
    print(f"  checkpoint: epoch {result.checkpoint['epoch']} ({result.checkpoint['rule']})")
    timings = result.timings_s
    over = f" over {timings['invocations']} invocations" if timings.get("invocations", 1) > 1 else ""
    print(f"result: {path}  ({timings['total']:.0f} s{over})")
    return 0


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise BenchError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return shard


def cmd_extract(args: argparse.Namespace) -> int:
    from benchmark.runner import extract

    _manager()
    complete = extract(_run_options(args, system=args.system, dataset=args.dataset), _shard(args.shard), log=print)
    print("features complete" if complete else "this shard is done; the last shard to finish completes the cache")
    return 0


def _names(text: str, flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise BenchError(f"{flag} {text!r}: expected a comma-separated list")
    return names


def cmd_sweep(args: argparse.Namespace) -> int:
    from benchmark.sweep import grid, sweep

    manager = _manager()
    systems, datasets = _names(args.systems, "--systems"), _names(args.datasets, "--datasets")
    for system in systems:
        manager.get("systems", system)
    for dataset in datasets:
        manager.get("datasets", dataset)
    refused = BenchError(f"--seeds {args.seeds!r}: expected non-negative integers, e.g. 1,2,3")
    try:
        seeds = [int(s) for s in _names(args.seeds, "--seeds")]
    except ValueError:
        raise refused from None
    if min(seeds) < 0:
        raise refused
    base = _run_options(args, system="", dataset="", output=args.output)
    statuses = sweep(grid(systems, datasets, seeds), base, args.backend, args.ray_address,
                     log=lambda message: print(message, file=sys.stderr))
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status["status"]] = counts.get(status["status"], 0) + 1
    print(f"{len(statuses)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts.get("failed") else 0


def cmd_plot(args: argparse.Namespace) -> int:
    from benchmark import paths

    if args.name == "recall":  # the harness's own figure, of stored runs
        return _plot_recall(args)
    if args.results or not args.dataset:
        raise BenchError(f"bench plot {args.name} draws a dataset: give --dataset D (result files are for `bench plot recall`)")
    manager = _manager()
    plot = manager.load("plots", args.name)
    paths.ensure_writable(args.output.parent if args.output else Path("."), "output directory")
    dataset = _prepared_dataset(args, manager)
    output = args.output or Path(f"{args.name}-{dataset.key}.png")
    plot(dataset, output, args.cache_dir or paths.cache_root())
    print(f"wrote {output}")
    return 0


def _plot_recall(args: argparse.Namespace) -> int:
    from benchmark.figures import plot_recall
    from benchmark.rescoring import every_seed

    if not args.results:
        raise BenchError("bench plot recall needs result files: bench plot recall RESULT [RESULT ...]")
    runs = every_seed(args.results)
    output = args.output or Path("recall.png")
    plot_recall(runs, output)
    print(f"wrote {output}")
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from benchmark import paths
    from benchmark.api import MineContext
    from benchmark.distributed import resolve_device
    from benchmark.errors import naming
    from benchmark.registry import label

    miner = _manager().create("miners", {"name": args.name, **_key_values(args.option, "-O")}, "-O")
    output = paths.ensure_writable(args.output or paths.mined_root() / args.name, "output directory")
    ctx = MineContext(output, args.data_dir or paths.data_root(), args.cache_dir or paths.cache_root(),
                      resolve_device(args.device))
    with naming(label("miners", args.name)):
        lines = miner.run(ctx)
    for line in lines:
        print(line)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark import paths
    from benchmark.leaderboard import write

    directories = args.results_dirs or [paths.RECORD]
    # The committed leaderboard is the record's; anything else goes to a file of the user's.
    output = args.output or (paths.LEADERBOARD if directories == [paths.RECORD] else Path("leaderboard.md"))
    write(directories, output, args.reported)
    print(f"wrote {output}")
    return 0


def _convention(args: argparse.Namespace) -> Convention:
    from benchmark.rescoring import choose

    return choose(args.convention, args.metric, args.ties)


def cmd_rescore(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from benchmark.plan import run_label
    from benchmark.rescoring import every_seed, rescore

    conv = _convention(args)
    stored = every_seed(args.results)  # every file checked before any is scored
    rows = []
    for one in stored:
        scores = rescore(one, conv)
        rows.append([str(one.path), run_label(one.result.system, one.result.overrides),
                     *(f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in scores.values())])
    print(f"convention {conv.name}, ties {conv.ties}; 95% bootstrap intervals over clips")
    print(tabulate(rows, headers=["result", "system", *conv.metrics], tablefmt="github", disable_numparse=True))
    return 0


def _systems(runs: dict[int, Stored]) -> str:
    """What a result file or a directory of seeds holds: its system with any ``--set``
    overrides (each one named, where seeds of one directory differ)."""
    from benchmark.plan import run_label

    return "; ".join(dict.fromkeys(run_label(run.result.system, run.result.overrides) for run in runs.values()))


def cmd_compare(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from benchmark.rescoring import common_seeds, paired, seeds

    conv = _convention(args)
    runs_a, runs_b = seeds(args.a), seeds(args.b)
    compared = paired(runs_a, runs_b, conv)
    rows = [
        [metric, f"{a:.3f}", f"{b:.3f}", f"{c.difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}]", f"{c.p_value:.3f}"]
        for metric, (a, b, c) in compared.items()
    ]
    by_seeds = next(iter(compared.values()))[2].test == "seeds"
    test = ("a paired t-test over matching seeds (training randomness counted)" if by_seeds else
            "a paired permutation test over the queries of one seed (whether these two models differ; "
            "training randomness is not counted: compare two or more seeds for that)")
    common = common_seeds(runs_a, runs_b)
    unpaired = sorted(set(runs_a) ^ set(runs_b))
    print(f"A: {args.a} ({_systems(runs_a)})\nB: {args.b} ({_systems(runs_b)})")
    print(f"convention {conv.name}, ties {conv.ties}; {test}")
    print(f"paired seeds: {', '.join(map(str, common))}"
          + (f" (left out, run by one side only: {', '.join(map(str, unpaired))})" if unpaired else ""))
    print(tabulate(rows, headers=["metric", "A", "B", "A - B [95% interval]", "p"], tablefmt="github",
                   disable_numparse=True))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from benchmark import external, predictions
    from benchmark.rescoring import choose
    from benchmark.results import result_path, write

    conv = choose(args.convention)
    system = args.system or f"external-{args.predictions.stem}"
    read = predictions.read(args.predictions, args.queries, args.files)  # every cell checked first
    dataset = _dataset(args, _manager())
    path = result_path(args.output, dataset.key, system, 0)
    if path.exists() and not args.force:
        raise BenchError(f"{path} exists; give another --system name, or --force to replace it")
    scored = external.score(read, dataset, conv, system)
    write(path, scored.result, scored.queries)
    bounds = scored.result.intervals or {}
    print(f"{system} on {dataset.key} ({len(read.queries)} query rows, {len(read.files)} files), "
          f"convention {conv.name}:")
    print("  " + "  ".join(f"{m} {v:.4f} [{bounds[m][0]:.4f}, {bounds[m][1]:.4f}]"
                           for m, v in scored.result.text_to_audio.items()))
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from benchmark import external, predictions
    from benchmark.rescoring import load

    stored = load(args.result)
    queries, files, scores = external.export(stored.queries, args.format)
    output = args.output or args.result.with_name(f"{args.result.stem}.{args.format}.csv")
    predictions.write_csv(output, queries, files, scores)
    print(f"wrote {output}: {len(queries)} queries x {len(files)} files")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from benchmark.conventions import CAPTIONS
    from benchmark.rescoring import choose, load, rank_histogram, worst

    if args.worst < 0:
        raise BenchError(f"--worst {args.worst}: give how many of the worst queries to show, 0 or more")
    stored = load(args.result)
    conv = choose(args.convention or stored.result.convention or "dcase2022")
    misses = worst(stored, args.worst, conv=conv)  # refused before printing anything for a record without captions
    counts = rank_histogram(stored, conv)
    total = sum(n for _, n in counts)
    own = conv.queries == CAPTIONS and not conv.duplicate_captions_relevant
    what = "each caption's own clip" if own else f"each {conv.name} query's first relevant clip"
    print(f"rank of {what} ({total} queries):")
    for bucket, n in counts:
        print(f"  {bucket:>7}  {n:6d}  {'#' * round(40 * n / max(total, 1))}")
    print(f"\nthe {len(misses)} queries whose {'clip' if own else 'first relevant clip'} ranked lowest:")
    for miss in misses:
        print(f"\n  {miss.caption!r}\n    {'its clip' if own else 'relevant'} {miss.clip} ranked {miss.rank}; "
              "retrieved first:")
        for n, (name, caption) in enumerate(miss.retrieved, start=1):
            print(f"    {n}. {name}: {caption!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from benchmark import paths

    parser = argparse.ArgumentParser(prog="bench", description="Benchmark language-based audio retrieval systems.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list installed plugins")
    p.add_argument("kind", nargs="?", help="experts, heads, fusions, losses, text_encoders, datasets, systems or plots")
    p.set_defaults(func=cmd_list)

    def dataset_options(p: argparse.ArgumentParser, one: bool = True) -> None:
        if one:  # a sweep names its datasets with --datasets
            p.add_argument("--dataset", required=True, help="dataset plugin name (see `bench list datasets`)")
        p.add_argument("-D", "--dataset-option", action="append", default=[], metavar="KEY=VALUE",
                       help="dataset option, e.g. n_development=200 (repeatable)")
        p.add_argument("--data-dir", type=Path, help="where datasets live (default $BENCH_HOME/datasets)")

    def overrides(p: argparse.ArgumentParser) -> None:
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a system setting, e.g. schedule.epochs=5 (repeatable)")
        p.add_argument("--expert-weights", choices=["pretrained", "random"],
                       help="weights of every pretrained expert (and of a caption encoder that has them, e.g. CLAP's): downloaded/verified (the default) or random "
                            "(offline smoke runs; recorded and marked on the leaderboard). Weights are looked "
                            "for in $BENCH_WEIGHTS_DIR (default $BENCH_HOME/weights)")

    def computing(p: argparse.ArgumentParser) -> None:
        """The flags of the commands that compute features: device, cache and system overrides."""
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        p.add_argument("--cache-dir", type=Path, help="embedding cache (default $BENCH_HOME/cache)")
        overrides(p)

    p = sub.add_parser("show", help="print a system's resolved configuration")
    p.add_argument("system")
    p.add_argument("--device", choices=["cpu", "cuda"], help="show the configuration a run on this device uses")
    overrides(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("prepare", help="download / generate and verify a dataset; report leaked or missing clips")
    dataset_options(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "run", help="train a system on a dataset and score it",
        description="Train a system on a dataset and score it. One process: bench run --system S --dataset D. "
                    "Several GPUs or CPU processes (DistributedDataParallel, global batch = batch_size): "
                    "torchrun --nproc-per-node N -m benchmark.cli run --system S --dataset D.",
    )
    p.add_argument("--system", required=True, help="system name (see `bench list systems`)")
    dataset_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=paths.RESULTS,
                   help="results directory (default ./results; the committed record is leaderboard/results)")
    p.add_argument("--force", action="store_true", help="re-run even if the result exists, replacing it")
    computing(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run every system x dataset x seed, skipping finished and claimed runs")
    p.add_argument("--systems", required=True, help="comma-separated system names")
    p.add_argument("--datasets", required=True, help="comma-separated dataset names")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="run here one after another, or as tasks on a Ray cluster (pip install '.[ray]')")
    p.add_argument("--ray-address", help="Ray cluster address (default: a running cluster or a new local one)")
    dataset_options(p, one=False)
    p.add_argument("--output", type=Path, default=paths.RESULTS,
                   help="results directory (default ./results; the committed record is leaderboard/results)")
    computing(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("extract", help="fill the feature cache of a run without training (optionally one shard)")
    p.add_argument("--system", required=True, help="system whose experts (and frozen caption encoder) to run")
    dataset_options(p)
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="compute shard I of N (independent processes or machines sharing --cache-dir)")
    computing(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("plot", help="draw a registered figure for a dataset (see `bench list plots`), or recall "
                                     "curves of stored runs (bench plot recall RESULT ...)")
    p.add_argument("name", help="plot name, e.g. relax; recall draws R@k (k = 1..50) of the RESULT files")
    p.add_argument("results", nargs="*", type=Path, metavar="RESULT",
                   help="result files, or systems' directories of seeds, for recall")
    p.add_argument("--dataset", help="dataset plugin name, for a registered figure (see `bench list datasets`)")
    dataset_options(p, one=False)
    p.add_argument("--output", type=Path, help="PNG file (default <name>-<dataset>.png)")
    p.add_argument("--cache-dir", type=Path, help="cache directory (default $BENCH_HOME/cache)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("mine", help="gather extra training pairs with a registered miner (see `bench list miners`)")
    p.add_argument("name", help="miner name, e.g. freesound")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="miner option (repeatable); `bench list miners` and the README name them")
    p.add_argument("--output", type=Path, help="where the miner writes (default $BENCH_HOME/mined/<name>)")
    p.add_argument("--data-dir", type=Path, help="where datasets live (default $BENCH_HOME/datasets)")
    p.add_argument("--cache-dir", type=Path, help="cache directory (default $BENCH_HOME/cache)")
    p.add_argument("--device", default="auto", help="device for the models a miner runs (auto, cpu, cuda, cuda:N)")
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser(
        "leaderboard", help="write leaderboard markdown from result files",
        description="Without arguments: the committed record (leaderboard/results) to leaderboard/README.md. "
                    "Your own runs beside it: bench leaderboard leaderboard/results results (to ./leaderboard.md).",
    )
    p.add_argument("results_dirs", nargs="*", type=Path, metavar="RESULTS_DIR",
                   help="result directories (default leaderboard/results); rows from each are marked with it")
    p.add_argument("--output", type=Path,
                   help="markdown file (default leaderboard/README.md for the record alone, else ./leaderboard.md)")
    p.add_argument("--reported", type=Path, default=Path("leaderboard/reported.yaml"),
                   help="published results shown as reported rows (default leaderboard/reported.yaml, if present)")
    p.set_defaults(func=cmd_leaderboard)

    def scoring(p: argparse.ArgumentParser) -> None:
        p.add_argument("--convention", default="dcase2022", help="dcase2022 (default), dcase2025 or mteb")
        p.add_argument("--metric", action="append", metavar="METRIC",
                       help="score this metric instead of the convention's (R@k, MRR@k, mAP@k, nDCG@k, R-precision; repeatable)")
        p.add_argument("--ties", choices=["pessimistic", "optimistic", "expected"],
                       help="tie policy instead of the convention's")

    p = sub.add_parser("rescore", help="score stored runs again from their per-query records, with intervals")
    p.add_argument("results", nargs="+", type=Path, metavar="RESULT",
                   help="result files (seed-N.json), or systems' directories of seeds")
    scoring(p)
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser("inspect", help="where a run's captions rank their clips, and the worst of them with what they retrieved")
    p.add_argument("result", type=Path, metavar="RESULT", help="a result file (seed-N.json)")
    p.add_argument("--worst", type=int, default=10, help="how many of the worst queries to show (default 10)")
    p.add_argument("--convention", help="whose queries and relevant clips (default: the one the result was scored with)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "score", help="score predictions made by any toolkit (a DCASE 2025 submission CSV, or a .npy matrix)",
        description="Score similarities computed elsewhere on a dataset's test split, needing no audio: a DCASE 2025 "
                    "submission CSV (header 'index,<file>,...', a row per query) or a .npy matrix with --queries and "
                    "--files lists. Writes a result and per-query record marked external.",
    )
    p.add_argument("predictions", type=Path, metavar="PREDICTIONS", help="a .csv submission or a .npy matrix")
    dataset_options(p)
    p.add_argument("--convention", default="dcase2022",
                   help="dcase2022 (default: every caption), dcase2025 (the annotated queries), mteb, clap or judged")
    p.add_argument("--queries", type=Path, help="for a .npy matrix: its queries, one per line, in row order")
    p.add_argument("--files", type=Path, help="for a .npy matrix: its audio file names, one per line, in column order")
    p.add_argument("--system", help="the name its result goes under (default external-<file stem>)")
    p.add_argument("--output", type=Path, default=paths.RESULTS, help="results directory (default ./results)")
    p.add_argument("--force", action="store_true", help="replace an existing result of that name")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("export", help="write a run's predictions as a submission file (DCASE 2025 CSV)")
    p.add_argument("result", type=Path, metavar="RESULT", help="a result file (seed-N.json) whose record keeps them")
    p.add_argument("--format", default="dcase2025", choices=["dcase2025"],
                   help="dcase2025: the task's submission CSV of its annotated queries")
    p.add_argument("--output", type=Path, help="the CSV to write (default beside the result: seed-N.dcase2025.csv)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare", help="paired comparison of two systems on the same test queries")
    p.add_argument("a", type=Path, metavar="RESULT_A", help="a result file, or a system's directory of seeds")
    p.add_argument("b", type=Path, metavar="RESULT_B", help="the same for the other system")
    scoring(p)
    p.set_defaults(func=cmd_compare)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show the traceback of an unexpected error (also: BENCH_DEBUG=1)")
    return parser


def _debug(args: argparse.Namespace) -> bool:
    import os

    return bool(args.debug) or os.environ.get("BENCH_DEBUG", "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr (the culprit and what to do);
    ``--debug`` (or ``BENCH_DEBUG=1``) shows the traceback of the unexpected ones instead."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `bench show X | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(
            "interrupted: finished cache chunks and checkpoints are kept; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns the unexpected into a line
        if _debug(args):
            raise
        print(f"error: {_describe(exc)} (run again with --debug for the traceback)", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str:
    """One line for an exception bench did not anticipate: the OS's for a file it could
    not use (with the file), else the exception's type and first line."""
    if isinstance(exc, OSError) and exc.strerror:
        names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
        return f"{exc.strerror}: {names}" if names else exc.strerror
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())

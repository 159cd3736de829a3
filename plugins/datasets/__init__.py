"""Built-in datasets."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "synthetic",
        "bench_plugins.datasets.synthetic:Synthetic",
        description="Embedded generated clips with 5 captions each, in Clotho's layout (no download)",
    )

"""Built-in fusions."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_fusions(register):
    register(
        "mean",
        "bench_plugins.fusions.mean:MeanFusion",
        description="Unnormalised arithmetic mean of expert vectors, cosine similarity to captions",
    )

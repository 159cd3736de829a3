"""Built-in temporal heads."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_heads(register):
    register(
        "meanpool",
        "bench_plugins.heads.pooling:MeanPoolHead",
        description="Masked mean over time, then a small MLP to the text dimension",
    )

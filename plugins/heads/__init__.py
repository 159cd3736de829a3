"""Built-in temporal heads."""

from benchmark.api import hookimpl


@hookimpl
def register_heads(register):
    register(
        "meanpool",
        "bench_plugins.heads.pooling:MeanPoolHead",
        description="Masked mean over time, then a small MLP to the text dimension",
    )
    register(
        "average",
        "bench_plugins.heads.pooling:AverageHead",
        description="Masked mean over time, nothing learned: for experts already in the caption space (zero-shot CLAP)",
    )
    register(
        "avgmaxpool",
        "bench_plugins.heads.pooling:AvgMaxPoolHead",
        description="Oncescu et al.'s aggregation: masked average and max pooling, concatenated, one Linear",
    )
    register(
        "transformer",
        "bench_plugins.heads.transformer:TransformerHead",
        description="The report's head: Linear to 256, 2-layer BART-style encoder, masked mean, Linear",
    )

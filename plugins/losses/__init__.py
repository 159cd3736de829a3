"""Built-in losses."""

from benchmark.api import hookimpl


@hookimpl
def register_losses(register):
    register(
        "ranking",
        "bench_plugins.losses.ranking:RankingLoss",
        description="Bidirectional contrastive ranking loss; optional CIDEr-relaxed margin and matching term",
    )
    register(
        "infonce",
        "bench_plugins.losses.infonce:InfoNCELoss",
        description="Symmetric cross-entropy over the batch with a learnable temperature (CLIP, CLAP)",
    )


@hookimpl
def register_plots(register):
    register(
        "relax",
        "bench_plugins.losses.plots:plot_relax",
        description="The CIDEr relax function over the histogram of pairwise CIDEr (the report's Figure 2)",
    )

"""Built-in losses."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register(
        "ranking",
        "bench_plugins.losses.ranking:RankingLoss",
        description="Bidirectional contrastive ranking loss; optional CIDEr-relaxed margin and matching term",
    )


@hookimpl
def register_plots(register):
    register(
        "relax",
        "bench_plugins.losses.plots:plot_relax",
        description="The CIDEr relax function over the histogram of pairwise CIDEr (the report's Figure 2)",
    )

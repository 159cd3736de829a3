"""Built-in losses."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register(
        "ranking",
        "bench_plugins.losses.ranking:RankingLoss",
        description="Bidirectional contrastive ranking (hinge) loss with a fixed margin",
    )

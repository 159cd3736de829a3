"""Built-in fusions."""

from benchmark.api import hookimpl


@hookimpl
def register_fusions(register):
    register(
        "mean",
        "bench_plugins.fusions.mean:MeanFusion",
        description="Unnormalised arithmetic mean of expert vectors, cosine similarity to captions",
    )
    register(
        "moee",
        "bench_plugins.fusions.moee:MixtureOfEmbeddedExperts",
        description="Mixture of embedded experts: per-expert gated embeddings, caption-predicted expert weights",
    )
    register(
        "collaborative_gating",
        "bench_plugins.fusions.moee:CollaborativeGating",
        description="moee with collaborative gating: each expert gated by pairwise messages from the others",
    )

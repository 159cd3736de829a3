"""Hooks: kept free of heavy imports; the expert class is named as a lazy "module:Class"."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "spectral_stats",
        "bench_expert_example.expert:SpectralStats",
        description="Example plugin: per-frame loudness, spectral centroid, bandwidth and flatness",
    )


@hookimpl
def register_systems(register):
    # A system is data: start from a built-in one and override what differs.
    register(
        "example_ranking",
        {
            "include": "ranking",
            "description": "The ranking system on the example spectral-statistics expert",
            "experts": [{"name": "spectral_stats", "frame_rate": 10.0}],
        },
        description="The ranking system on the example spectral-statistics expert",
    )

"""PANNs CNN14-16k expert plugin for bench (report Table 1: 81,033,231 parameters, 3.1 frames/s, 2048-d)."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "panns",
        "bench_panns.expert:PANNs",
        description="PANNs CNN14 at 16 kHz (panns-inference) without time pooling: ~3.1 frames/s, 2048-d",
    )

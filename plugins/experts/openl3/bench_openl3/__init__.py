"""OpenL3 expert plugin for bench (report Table 1: 4,687,042 parameters, 2 frames/s, 512-d)."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "openl3",
        "bench_openl3.expert:OpenL3",
        description="OpenL3 mel256/env/512 (torchopenl3), 1 s windows every 0.5 s: 2 frames/s, 512-d",
    )

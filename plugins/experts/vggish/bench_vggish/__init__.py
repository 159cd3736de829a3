"""VGGish expert plugin for bench (report Table 1: 72,157,696 parameters, 1 frame/s, 128-d)."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "vggish",
        "bench_vggish.expert:VGGish",
        description="VGGish (torchvggish) with its PCA post-processing: 0.96 s frames, ~1 frame/s, 128-d",
    )

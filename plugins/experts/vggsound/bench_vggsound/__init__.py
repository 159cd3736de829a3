"""VGGSound ResNet-18 expert plugin for bench (report Table 1: 11,328,757 parameters, 512-d)."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "vggsound",
        "bench_vggsound.expert:VGGSound",
        description="VGGSound ResNet-18 (model H), frequency-averaged: ~3.1 frames/s, 512-d",
    )

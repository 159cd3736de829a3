"""Built-in audio experts."""

from benchmark.hookspecs import hookimpl


@hookimpl
def register_experts(register):
    register(
        "logmel",
        "bench_plugins.experts.logmel:LogMel",
        description="Weight-free log-mel spectrogram frames (no download; runs anywhere)",
    )

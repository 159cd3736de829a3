"""Built-in audio experts."""

from benchmark.api import hookimpl


@hookimpl
def register_experts(register):
    register(
        "logmel",
        "bench_plugins.experts.logmel:LogMel",
        description="Weight-free log-mel spectrogram frames (no download; runs anywhere)",
    )
    register(
        "hear",
        "bench_plugins.experts.hear:HEARExpert",
        description="Any HEAR 2021 API module (load_model, get_timestamp_embeddings), by module name",
    )

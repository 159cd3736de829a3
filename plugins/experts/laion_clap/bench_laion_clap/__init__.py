"""LAION-CLAP (630k-audioset-best, HTSAT-tiny + RoBERTa-base) for bench: the ``laion_clap``
audio expert (512-d joint-space frames, one per 10 s window), the ``laion_clap_text``
caption encoder, the zero-shot system ``laion_clap`` and ``cider_relax_plus_laion_clap``."""

from pathlib import Path

from benchmark.api import hookimpl

SYSTEMS = Path(__file__).parent / "systems"


@hookimpl
def register_experts(register):
    register(
        "laion_clap",
        "bench_laion_clap.expert:LaionClap",
        description="LAION-CLAP 630k-audioset-best (HTSAT-tiny, 48 kHz): 512-d joint-space frames, one per 10 s window",
    )


@hookimpl
def register_text_encoders(register):
    register(
        "laion_clap_text",
        "bench_laion_clap.text:LaionClapText",
        description="LAION-CLAP 630k-audioset-best RoBERTa-base text tower: 512-d joint-space caption embeddings",
    )


@hookimpl
def register_systems(register):
    from benchmark.api import register_system_files

    register_system_files(register, SYSTEMS)

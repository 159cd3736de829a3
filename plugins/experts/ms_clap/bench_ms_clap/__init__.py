"""Microsoft CLAP 2022 (Elizalde et al., ICASSP 2023) for bench: the audio tower as the
expert ``ms_clap``, the text tower as the caption encoder ``ms_clap_text``, and the systems
``ms_clap`` (zero-shot) and ``cider_relax_plus_ms_clap`` (the reference system with a fifth
expert). Heavy modules are named lazily, so ``bench list`` imports no torch from here."""

from pathlib import Path

from benchmark.api import hookimpl

SYSTEMS = Path(__file__).resolve().parent / "systems"


@hookimpl
def register_experts(register):
    register(
        "ms_clap",
        "bench_ms_clap.expert:MSClapExpert",
        description="MS-CLAP 2022 audio tower (CNN14, 44.1 kHz): joint-space embeddings of 5 s windows, 0.2 frames/s, 1024-d",
    )


@hookimpl
def register_text_encoders(register):
    register(
        "ms_clap_text",
        "bench_ms_clap.text_encoder:MSClapText",
        description="MS-CLAP 2022 text tower (bert-base-uncased [CLS] + projection), 1024-d, the ms_clap expert's space",
    )


@hookimpl
def register_systems(register):
    from benchmark.api import register_system_files

    register_system_files(register, SYSTEMS)

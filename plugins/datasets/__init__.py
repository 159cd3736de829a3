"""Built-in datasets."""

from benchmark.api import hookimpl


@hookimpl
def register_datasets(register):
    register(
        "synthetic",
        "bench_plugins.datasets.synthetic:Synthetic",
        description="Embedded generated clips with 5 captions each, in Clotho's layout (no download): "
        "400 / 100 / 200 clips of 1-2 s, sized for a first run on a laptop",
    )
    register(
        "synthetic_large",
        "bench_plugins.datasets.synthetic:synthetic_large",
        description="The synthetic set at 1,000 / 200 / 200 clips of 3-6 s",
    )
    register(
        "clotho_v1",
        "bench_plugins.datasets.clotho:ClothoV1",
        description="Clotho v1 (Zenodo 3490684): development with a seeded 20% validation holdout, evaluation; "
        "-D audio_dir=DIR adopts a copy you extracted",
    )
    register(
        "clotho_v2",
        "bench_plugins.datasets.clotho:ClothoV2",
        description="Clotho v2.1 (Zenodo 4783391; -D release=2 for v2): development, validation, evaluation; "
        "-D audio_dir=DIR adopts a copy you extracted",
    )
    register(
        "audiocaps",
        "bench_plugins.datasets.audiocaps:AudioCaps",
        description="AudioCaps captions (official CSVs) with audio you provide (-D audio_dir=DIR)",
    )
    register(
        "hf",
        "bench_plugins.datasets.hf:HuggingFace",
        description="Any Hugging Face dataset with audio and caption columns (-D path=NAME_OR_DIR), "
        "AudioFolder directories (metadata.csv/jsonl) included",
    )
    register(
        "folder",
        "bench_plugins.datasets.folder:Folder",
        description="Your own audio in a local folder in Clotho's layout (-D path=DIR), read in place",
    )
    register(
        "freesound_mined",
        "bench_plugins.datasets.freesound.dataset:FreesoundMined",
        description="Freesound sounds kept by `bench mine freesound` (-D manifest=PATH): previews with their "
        "descriptions as captions, a seeded 5% validation holdout, for pre-training; CC BY authors must be "
        "credited when the data is shared (ATTRIBUTION.md in its data directory)",
    )


@hookimpl
def register_miners(register):
    register(
        "freesound",
        "bench_plugins.datasets.freesound.mine:FreesoundMiner",
        description="The report's Freesound mining: descriptions (-O dump=PATH or the API harvest) a classifier "
        "mistakes for Clotho captions (score > 0.2), 3 s to 2 min, no Clotho sound or evaluation caption, "
        "into manifest.jsonl and report.md",
    )

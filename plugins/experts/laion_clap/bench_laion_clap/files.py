"""The files LAION-CLAP needs, with their official URLs and checksums, and where they are
fetched to.

The checkpoint is the package's default non-fusion one (``CLAP_Module(enable_fusion=False)``
then ``load_ckpt()`` downloads it): 630k-audioset-best.pt, 1,863,587,645 bytes, from the
authors' Hugging Face repository; its SHA-256 is the one Hugging Face's LFS pointer
publishes. The tokenizer is roberta-base's byte-level BPE (``vocab.json``, ``merges.txt``),
as ``RobertaTokenizer.from_pretrained('roberta-base')`` loads it; Hugging Face publishes
no SHA-256 for these small files, so the first verified copy's is recorded and enforced.
Both are saved under names of their own (``roberta-base-vocab.json``…), since other models'
files are also called ``vocab.json``.
"""

from __future__ import annotations

from benchmark.api import WeightFile, weights_dir

CHECKPOINT = WeightFile(
    "630k-audioset-best.pt",
    "https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-best.pt",
    sha256="8053c9775516af2f4902e1e8281e356cc1bf7a85e8b761908170767b77c3f037",  # Hugging Face's LFS pointer
)
VOCAB = WeightFile("roberta-base-vocab.json", "https://huggingface.co/FacebookAI/roberta-base/resolve/main/vocab.json")
MERGES = WeightFile("roberta-base-merges.txt", "https://huggingface.co/FacebookAI/roberta-base/resolve/main/merges.txt")
#: The tokenizer's files, by role.
TOKENIZER = {"vocab": VOCAB, "merges": MERGES}


def present(file: WeightFile) -> bool:
    """Whether ``file`` is already in the weights directory (not verified: ``fetch_weights`` does that)."""
    return (weights_dir() / file.name).is_file()

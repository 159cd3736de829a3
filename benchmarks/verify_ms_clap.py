"""Our MS-CLAP 2022 gives msclap's embeddings for the same weights and inputs (issue 19).

    /tmp/msclapenv/bin/python benchmarks/verify_ms_clap.py [WORK_DIR]

msclap does not import beside bench's pinned torch, so the comparison runs in two
environments:

1. in the scratch environment with msclap 1.3.4 (this script): msclap's own ``CLAP`` is
   built for version '2022' from its ``config_2022.yml`` with seeded random weights (BERT
   included: ``AutoModel.from_pretrained`` is replaced by bert-base-uncased's architecture,
   randomly initialised, since nothing can be downloaded), its state dict is saved as
   msclap's checkpoint layout (``{"model": ...}``), and msclap embeds the inputs through its
   wrapper's own preprocessing (``load_audio_into_tensor``'s repeat-padding,
   ``preprocess_text``'s tokenisation at 100 tokens, padded to 100) and
   ``_get_audio_embeddings`` / ``_get_text_embeddings``; torchaudio, which fails to load
   there, is stubbed (no audio file is read: the clips are handed over as arrays, at 44.1 kHz);
2. in bench's environment (``/work/main/.venv/bin/python``, this script with ``--ours``): the
   ``ms_clap`` expert and the ``ms_clap_text`` encoder load that file as a weights file and
   embed the same inputs.

Audio clips are at most 5 s, so msclap's random crop of longer clips does not interfere;
mono, since msclap concatenates a stereo file's channels where bench downmixes.

One caption is longer than msclap's ``text_len`` of 100 tokens. msclap 1.3.4 does not cut
it: its ``encode_plus(max_length=100, padding="max_length")`` sets no truncation, so the
caption keeps its 146 tokens, and in a batch with shorter captions its collate fails on the
unequal lengths. bench cuts it to 100 tokens; it is compared with msclap's text tower on
the same caption tokenised with ``truncation=True`` (and, for information, with msclap's
untruncated embedding of it, alone). The tokenizer msclap gets from the hub
(``BertTokenizerFast`` for bert-base-uncased) is built here from the same ``vocab.txt``
bench reads, whose identity with bert-base-uncased's is argued in bench_ms_clap/vocabulary.py.

Prints the lowest and mean cosine similarity per modality and whether the token ids agree;
exits 1 if a cosine is below 0.999.
"""

from __future__ import annotations

import importlib.machinery
import json
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"
RATE = 44100
SECONDS = (5.0, 3.3, 1.2, 0.05)
CAPTIONS = [
    "A dog barks twice while cars pass by on a wet road.",
    "Birds chirp in the trees; a distant airplane hums.",
    "Someone types quickly on a mechanical keyboard, then stops.",
    "Rain falls on a tin roof and thunder rumbles far away.",
]
#: 146 WordPieces with [CLS] and [SEP]: over msclap's text_len of 100.
LONG = " ".join(["water drips slowly into a metal bucket in an echoing cave"] * 12)
THRESHOLD = 0.999


def clips() -> list[np.ndarray]:
    """Mono test clips at 44.1 kHz: tones with noise, seeded."""
    rng = np.random.default_rng(0)
    out = []
    for seconds in SECONDS:
        t = np.arange(int(seconds * RATE)) / RATE
        audio = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.05 * rng.standard_normal(len(t))
        out.append(audio.astype(np.float32))
    return out


def stub_torchaudio() -> None:
    """Empty ``torchaudio`` modules: msclap imports them, its model code never calls them."""
    for name in ("torchaudio", "torchaudio.transforms"):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules[name] = module
    sys.modules["torchaudio"].transforms = sys.modules["torchaudio.transforms"]


def vocab_file() -> Path:
    """The vocab.txt bench reads (bench's environment knows where it is)."""
    code = "from bench_ms_clap.vocabulary import vocab_path; print(vocab_path())"
    return Path(subprocess.run([str(OURS_PYTHON), "-c", code], check=True, capture_output=True, text=True).stdout.strip())


def package_model() -> tuple[object, types.SimpleNamespace]:
    """msclap's own 2022 ``CLAP`` with seeded random weights (BERT included), and its
    ``config_2022.yml`` settings."""
    stub_torchaudio()
    import torch
    import yaml
    from transformers import BertConfig, BertModel

    import msclap.models.clap as clap_module

    def random_bert(name: str) -> BertModel:
        assert name == "bert-base-uncased", name
        return BertModel(BertConfig())  # bert-base-uncased's configuration is BertConfig's default

    clap_module.AutoModel.from_pretrained = random_bert
    config_path = Path(clap_module.__file__).parents[1] / "configs" / "config_2022.yml"
    args = types.SimpleNamespace(**yaml.safe_load(config_path.read_text()))
    torch.manual_seed(0)
    clap = clap_module.CLAP(
        audioenc_name=args.audioenc_name, sample_rate=args.sampling_rate, window_size=args.window_size,
        hop_size=args.hop_size, mel_bins=args.mel_bins, fmin=args.fmin, fmax=args.fmax, classes_num=args.num_classes,
        out_emb=args.out_emb, text_model=args.text_model, transformer_embed_dim=args.transformer_embed_dim,
        d_proj=args.d_proj,
    ).eval()
    return clap, args


def package_wrapper(clap: object, args: types.SimpleNamespace, read_audio: Callable) -> object:
    """msclap's ``CLAPWrapper`` around ``clap`` without its constructor (which downloads), so
    its own preprocessing runs; ``read_audio`` replaces its torchaudio reader."""
    from msclap.CLAPWrapper import CLAPWrapper

    wrapper = CLAPWrapper.__new__(CLAPWrapper)
    wrapper.read_audio = read_audio
    wrapper.args, wrapper.clap, wrapper.use_cuda = args, clap, False
    wrapper.np_str_obj_array_pattern = re.compile(r"[SaUO]")  # what msclap's constructor sets for its collate
    wrapper.default_collate_err_msg_format = "default_collate: {}"
    return wrapper


def package_side(work: Path) -> dict[str, np.ndarray]:
    """Build msclap's 2022 model with seeded random weights, save it, embed the inputs."""
    import torch
    from transformers import BertTokenizerFast

    clap, args = package_model()
    torch.save({"model": clap.state_dict()}, work / "CLAP_weights_2022_random.pth")
    # clips handed over by name instead of read with torchaudio
    audio = {f"clip{i}": torch.from_numpy(a)[None] for i, a in enumerate(clips())}
    wrapper = package_wrapper(clap, args, lambda path, resample=True: (audio[path], RATE))
    wrapper.token_keys = ["input_ids", "token_type_ids", "attention_mask"]
    wrapper.tokenizer = BertTokenizerFast(vocab_file=str(vocab_file()), do_lower_case=True)
    assert len(wrapper.tokenizer) == 30522, len(wrapper.tokenizer)
    with torch.no_grad():
        audio_embeddings = wrapper.get_audio_embeddings(list(audio), resample=False).numpy()
        tokens = wrapper.preprocess_text(CAPTIONS)
        text_embeddings = wrapper._get_text_embeddings(tokens).numpy()
        untruncated = wrapper.preprocess_text([LONG])
        long_untruncated = wrapper._get_text_embeddings(untruncated).numpy()
        cut = wrapper.tokenizer(LONG, max_length=args.text_len, truncation=True, padding="max_length", return_tensors="pt")
        long_truncated = clap.caption_encoder({key: cut[key] for key in wrapper.token_keys}).numpy()
    ids = [row[mask.bool()].tolist() for row, mask in zip(tokens["input_ids"], tokens["attention_mask"])]
    ids.append(cut["input_ids"][0][cut["attention_mask"][0].bool()].tolist())
    return {"audio": audio_embeddings, "text": np.concatenate([text_embeddings, long_truncated]), "ids": ids,
            "long_untruncated": long_untruncated, "long_tokens_msclap": int(untruncated["attention_mask"].sum())}


def our_side(work: Path) -> None:
    """In bench's environment: embed the inputs with the expert and the caption encoder."""
    import torch

    from bench_ms_clap.expert import MSClapExpert
    from bench_ms_clap.text_encoder import MSClapText

    weights = str(work / "CLAP_weights_2022_random.pth")
    expert = MSClapExpert(weights=weights, precision="float32")
    frames = expert.embed(clips())
    assert all(f.shape == (1, 1024) for f in frames), [f.shape for f in frames]
    encoder = MSClapText(weights=weights)
    with torch.inference_mode():
        text = torch.cat([encoder(CAPTIONS), encoder([LONG])]).numpy()
        tokens = encoder.tokenize([*CAPTIONS, LONG])
    ids = [row[mask.bool()].tolist() for row, mask in zip(tokens["input_ids"], tokens["attention_mask"])]
    np.savez(work / "ours.npz", audio=np.concatenate(frames), text=text)
    (work / "ours_ids.json").write_text(json.dumps({"ids": ids, "truncated": encoder.truncated}))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> int:
    if sys.argv[1:2] == ["--ours"]:
        our_side(Path(sys.argv[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="verify-ms-clap-") as tmp:
        work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        theirs = package_side(work)
        subprocess.run([str(OURS_PYTHON), __file__, "--ours", str(work)], check=True)
        ours = np.load(work / "ours.npz")
        our_ids = json.loads((work / "ours_ids.json").read_text())
    report = {
        "audio_cosine": {"min": float(cosines(ours["audio"], theirs["audio"]).min()),
                         "mean": float(cosines(ours["audio"], theirs["audio"]).mean()), "clips_seconds": SECONDS},
        "text_cosine": {"min": float(cosines(ours["text"], theirs["text"]).min()),
                        "mean": float(cosines(ours["text"], theirs["text"]).mean()), "captions": len(CAPTIONS) + 1},
        "token_ids_equal": our_ids["ids"] == theirs["ids"],
        "long_caption": {"tokens_ours": len(our_ids["ids"][-1]), "tokens_msclap_untruncated": theirs["long_tokens_msclap"],
                         "cosine_to_msclap_untruncated": float(cosines(ours["text"][-1:], theirs["long_untruncated"])[0]),
                         "truncations_counted_by_ours": our_ids["truncated"]},
        "max_abs_difference": {"audio": float(np.abs(ours["audio"] - theirs["audio"]).max()),
                               "text": float(np.abs(ours["text"] - theirs["text"]).max())},
    }
    print(json.dumps(report, indent=2))
    ok = min(report["audio_cosine"]["min"], report["text_cosine"]["min"]) >= THRESHOLD and report["token_ids_equal"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``bench mine freesound``: the report's Freesound mining (section 2), step by step.

1. Descriptions: a local dump (``-O dump=PATH``, JSON lines of harvest records) or the
   resumable harvest into ``<output>/harvest``. Empty descriptions, and descriptions that
   :func:`is_english` rejects, are skipped.
2. Clotho: the development captions (the classifier's positive class), the evaluation
   captions and every Freesound ``sound_id`` of every split's metadata, from
   ``-O clotho_dir=DIR`` or the CSVs of every release fetched (md5-checked) into
   ``<data_root>/clotho_csv``.
3. The classifier (:mod:`.classifier`): Freesound descriptions (0) against Clotho
   development captions (1), with a seeded held-out share whose ROC AUC is reported.
4. Filters: score above ``threshold`` (0.2, the report's), duration from ``min_seconds``
   to ``max_seconds`` (3 s to 2 min, the report's), not a sound any Clotho split uses (the
   leakage trap: Clotho's audio is Freesound's, so a mined sound can be an evaluation
   clip), not equal or near an evaluation caption (:class:`CaptionIndex`), not a repeat of
   a description already kept.
5. ``manifest.jsonl`` (the shared manifest format), ``report.json`` and ``report.md``, each
   written whole. A re-run resumes the harvest and reuses the classifier and its scores
   when the descriptions, captions and classifier settings are the same, so changing only
   the threshold or the durations costs seconds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from benchmark.api import (BenchError, MineContext, atomic_path, digests, fetch, mirror_url, stable_hash, unknown_name,
                           write_json, write_text)
from bench_plugins.datasets.clotho import RELEASES, known_sound, read_sound_ids

from . import classifier as classifiers

MANIFEST, REPORT_JSON, REPORT_MD = "manifest.jsonl", "report.json", "report.md"
CLASSIFIER_FILE, SCORES_FILE = "classifier.npz", "scores.npz"
#: Where the Clotho CSVs are fetched to, under the data root, one folder per release.
CLOTHO_FOLDER = "clotho_csv"
#: Preview URLs in order of preference: the manifest names the first a record has.
PREVIEWS = ("preview-hq-ogg", "preview-lq-ogg", "preview-hq-mp3", "preview-lq-mp3")

# -- language ------------------------------------------------------------------------------

#: Common English function words.
ENGLISH = frozenset(
    "the a an and of to in on at is are was were be been with from by for as this that these those it its while "
    "into over under then there some my i you we he she they his her their our your not no but or if when which who "
    "has have had can will would out up down off through after before near".split()
)
#: Function words of Spanish, French, German, Italian, Portuguese and Dutch that are not
#: English words (so "a", "in", "die", "also" count for neither).
FOREIGN = frozenset(
    "el la los las del una unos unas con por para que es y se su al como muy pero esta este sin sobre entre "
    "le les des du une et est dans avec pour sur qui au aux ce cette pas je il nous vous sont mais "
    "der das und ist mit von im ein eine einer nicht auf für zu den dem des ich wir sind oder aber auch "
    "il lo gli della di che è nel sono e una questo questa molto "
    "os da do das dos em um uma com na no não mais ao pela pelo "
    "de het een en van met voor niet op zijn ik".split()
) - ENGLISH - {"a", "in", "die", "also", "no", "do", "e", "o", "y", "is", "on", "be", "see"}
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")


def is_english(text: str) -> bool:
    """A cheap test, with no model: at least 90% of the letters are ASCII (so Cyrillic,
    Japanese or heavily accented text fails), and unless two or more words are Spanish,
    French, German, Italian, Portuguese or Dutch function words and they outnumber the
    English ones. One such word alone ("Clippy EM172", "Gare du Nord") is not enough, and
    text with neither kind of word (a tag list, a file name) passes: the classifier judges it."""
    if not text.isascii():
        letters = len(_LETTER.findall(text))
        if letters and len(_ASCII_LETTER.findall(text)) < 0.9 * letters:
            return False
    words = _WORD.findall(text.lower())
    english = sum(word in ENGLISH for word in words)
    foreign = sum(word in FOREIGN for word in words)
    return foreign < 2 or foreign <= english


# -- near duplicates -----------------------------------------------------------------------

_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, runs of whitespace to one space, trimmed."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


class CaptionIndex:
    """Finds whether a text equals or nearly equals one of a set of captions: the token sets
    of their normalised forms have a Jaccard similarity of at least ``threshold``.

    Prefix filtering keeps it fast: tokens are ordered rarest first (by their frequency in
    the captions), and two sets with Jaccard >= t must share a token among the first
    ``n - ceil(t n) + 1`` of each, so only captions indexed by one of the text's prefix
    tokens are compared with it.
    """

    def __init__(self, captions: Iterable[str], threshold: float) -> None:
        self.threshold = threshold
        self.sets = [s for s in dict.fromkeys(frozenset(normalise(c).split()) for c in captions) if s]
        self.frequency = Counter(token for tokens in self.sets for token in tokens)
        self.index: dict[str, list[int]] = defaultdict(list)
        for number, tokens in enumerate(self.sets):
            for token in self._prefix(tokens):
                self.index[token].append(number)

    def _prefix(self, tokens: frozenset[str]) -> list[str]:
        length = len(tokens) - math.ceil(self.threshold * len(tokens) - 1e-9) + 1
        return sorted(tokens, key=lambda t: (self.frequency.get(t, 0), t))[:length]

    def near(self, text: str) -> bool:
        """Whether ``text`` is equal or near (Jaccard >= threshold) to one of the captions."""
        tokens = frozenset(normalise(text).split())
        if not tokens:
            return False
        seen: set[int] = set()
        for token in self._prefix(tokens):
            for number in self.index.get(token, ()):
                if number in seen:
                    continue
                seen.add(number)
                other = self.sets[number]
                shared = len(tokens & other)
                if shared >= self.threshold * (len(tokens) + len(other) - shared):
                    return True
        return False


# -- Clotho --------------------------------------------------------------------------------

@dataclass
class ClothoText:
    """What the miner takes from Clotho: the development and evaluation captions, every
    Freesound sound id of every split, and which files they came from."""

    development: list[str] = field(default_factory=list)
    evaluation: list[str] = field(default_factory=list)
    sound_ids: set[int] = field(default_factory=set)
    files: list[dict[str, str | None]] = field(default_factory=list)
    #: The releases' metadata files not among them, as ``v2.1 validation``.
    missing: list[str] = field(default_factory=list)


def _release_files() -> dict[str, list[str]]:
    """md5 → the release files with that content (``v2.1 clotho_metadata_development.csv``)."""
    named: dict[str, list[str]] = defaultdict(list)
    for version, release in RELEASES.items():
        for name, md5 in release.md5.items():
            if name.endswith(".csv"):
                named[md5].append(f"v{version} {name}")
    return named


def _read_captions(path: Path) -> list[str]:
    """The captions of a Clotho captions CSV (``file_name,caption_1..caption_5``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read Clotho captions {path} ({exc}); "
                         "pass a release's clotho_captions_*.csv") from None
    header = [h.strip() for h in rows[0]] if rows else []
    columns = [i for i, h in enumerate(header) if h.startswith("caption_")]
    if not columns:
        raise BenchError(f"{path}: expected columns file_name,caption_1..caption_5; "
                         f"found {','.join(header) or 'nothing'}")
    return [row[i].strip() for row in rows[1:] for i in columns if i < len(row) and row[i].strip()]


def read_clotho(directory: Path) -> ClothoText:
    """The Clotho CSVs anywhere under ``directory`` (one release flat, or several in
    subfolders). It must hold development and evaluation captions, and beside every captions
    CSV the same split's metadata (its sound ids keep the split's clips out of the mined set)."""
    captions = sorted(directory.rglob("clotho_captions_*.csv"))
    metadata = sorted(directory.rglob("clotho_metadata_*.csv"))
    for split in ("development", "evaluation"):
        if not any(p.name == f"clotho_captions_{split}.csv" for p in captions):
            raise BenchError(f"clotho_dir {directory} holds no clotho_captions_{split}.csv; it must hold a Clotho "
                             "release's captions and metadata CSVs (or leave clotho_dir out to fetch them)")
    for path in captions:
        beside = metadata_of(path)
        if not beside.is_file():
            raise BenchError(f"clotho_dir {directory}: {path.relative_to(directory)} has no {beside.name} beside it; "
                             "the sound ids of every split are needed to keep Clotho's clips out of the mined set")
    text = ClothoText()
    known = _release_files()
    found: set[str] = set()
    for path in [*captions, *metadata]:
        md5 = digests(path)["md5"]
        found.update(known.get(md5, []))
        text.files.append({"path": str(path), "release": ", ".join(known[md5]) if md5 in known else None})
        if path in metadata:
            ids = read_sound_ids(path).values()
            text.sound_ids.update(int(s) for s in ids if known_sound(s))
        elif path.name == "clotho_captions_development.csv":
            text.development.extend(_read_captions(path))
        elif path.name == "clotho_captions_evaluation.csv":
            text.evaluation.extend(_read_captions(path))
    text.development = sorted(set(text.development))
    text.evaluation = sorted(set(text.evaluation))
    missing = {name for names in known.values() for name in names if "metadata" in name} - found
    text.missing = sorted(name.replace("clotho_metadata_", "").removesuffix(".csv") for name in missing)
    return text


def metadata_of(captions: Path) -> Path:
    """The metadata CSV of a captions CSV's split, in the same folder."""
    return captions.with_name(captions.name.replace("clotho_captions_", "clotho_metadata_"))


def fetch_clotho(root: Path) -> Path:
    """Every release's captions and metadata CSVs, verified by md5, under ``root/v<version>``
    (fetched once; offline, the one-line error names the file and where to put it)."""
    for version, release in RELEASES.items():
        for name in release.md5:
            if name.endswith(".csv"):
                fetch(release.file(name), root / f"v{version}" / name,
                      url=mirror_url("BENCH_DATA_MIRROR", f"clotho_v{version}/{name}"), what=f"Clotho v{version} file",
                      hint=" (or pass -O clotho_dir=DIR holding a release's CSVs)")
    return root


# -- the report ----------------------------------------------------------------------------

#: Step name → what it removes, for the report.
STEPS = {
    "descriptions": "sounds read (each sound once)",
    "empty": "empty description",
    "not_english": "description not English",
    "threshold": "classifier score at or below the threshold",
    "duration": "duration outside the bounds",
    "clotho_sound": "a sound of a Clotho split (any release)",
    "evaluation_caption": "description equal or near a Clotho evaluation caption",
    "duplicate": "description repeats one kept for a sound with a lower id",
}


class Steps:
    """The count left after each step and how many it removed (they add up by construction)."""

    def __init__(self, read: int) -> None:
        self.rows: list[dict[str, object]] = [{"step": "descriptions", "what": STEPS["descriptions"], "removed": 0,
                                               "left": read}]

    def keep(self, step: str, survivors: Sequence[object]) -> None:
        left = int(self.rows[-1]["left"])
        self.rows.append({"step": step, "what": STEPS[step], "removed": left - len(survivors), "left": len(survivors)})


def _markdown(report: dict, top: list[dict]) -> str:
    training = report["classifier"]
    shown = ("name", "train", "held_out", "held_out_auc", "reused", "seconds")  # said in words, not as settings
    lines = [
        "# Freesound mining",
        "",
        f"Source: {report['source']}. Kept **{report['kept']:,}** sounds in `{MANIFEST}`.",
        "",
        "| step | removed | left |",
        "| --- | ---: | ---: |",
        *(f"| {row['what']} | {row['removed']:,} | {row['left']:,} |" for row in report["steps"]),
        "",
        f"Classifier: `{training['name']}` ({', '.join(f'{k}={v}' for k, v in training.items() if k not in shown)}), "
        f"trained on {training['train']['freesound']:,} Freesound descriptions and {training['train']['clotho']:,} "
        f"Clotho development captions; held-out ROC AUC **{training['held_out_auc']:.4f}** on "
        f"{training['held_out']['freesound']:,} + {training['held_out']['clotho']:,} texts it never saw.",
        "",
        f"Kept: score > {report['threshold']}, duration {report['duration']['min_seconds']} to "
        f"{report['duration']['max_seconds']} s, no sound of Clotho ({report['clotho']['sound_ids']:,} sound ids), "
        f"no description with token-set Jaccard >= {report['near_duplicate']} to one of "
        f"{report['clotho']['evaluation_captions']:,} evaluation captions, each description once.",
    ]
    if report["clotho"]["missing"]:
        missing = ", ".join(report["clotho"]["missing"])
        lines += ["", f"Not checked against (no metadata of these given, by md5): {missing}."]
    if top:
        lines += ["", "Highest-scoring kept descriptions:", "",
                  *(f"1. {r['description'][:200]!s} ({r['score']:.3f})".replace("\n", " ") for r in top)]
    return "\n".join(lines) + "\n"


# -- the miner -----------------------------------------------------------------------------

def _number(name: str, value: object, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BenchError(f"option {name}={value!r} must be a number")
    if value < low or (high is not None and value > high):
        bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise BenchError(f"option {name}={value!r} must be {bound}")
    return float(value)


def _digest(texts: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for text in texts:
        hasher.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    return hasher.hexdigest()


@dataclass(frozen=True)
class Scored:
    """The classifier's score of every distinct description text, and how it was trained."""

    scores: dict[str, float]
    settings: dict[str, object]
    training: classifiers.Training
    reused: bool
    seconds: dict[str, float]


class FreesoundMiner:
    """Mines Freesound descriptions that read like Clotho captions into a manifest of sounds.

    Options (``-O key=value``): ``dump`` (a local JSON-lines dump; without it, the harvest
    runs with ``query``, ``max_requests`` and ``per_minute`` and the token in
    ``FREESOUND_TOKEN``), ``clotho_dir`` (the Clotho CSVs; without it they are fetched),
    ``classifier`` (``ngram`` or ``minilm``), ``threshold``, ``min_seconds``,
    ``max_seconds``, ``near_duplicate`` (token-set Jaccard), ``held_out`` and ``seed``.
    """

    def __init__(
        self, dump: str | None = None, clotho_dir: str | None = None, classifier: str = "ngram",
        threshold: float = 0.2, min_seconds: float = 3.0, max_seconds: float = 120.0, near_duplicate: float = 0.8,
        held_out: float = 0.1, seed: int = 0, query: str = "", max_requests: int | None = 2000,
        per_minute: float = 60.0,
    ) -> None:
        self.threshold = _number("threshold", threshold, 0.0, 1.0)
        self.min_seconds = _number("min_seconds", min_seconds, 0.0)
        self.max_seconds = _number("max_seconds", max_seconds, 0.0)
        if self.min_seconds > self.max_seconds:
            raise BenchError(f"option min_seconds={min_seconds!r} is above max_seconds={max_seconds!r}; "
                             "keep min_seconds <= max_seconds")
        self.near_duplicate = _number("near_duplicate", near_duplicate, 0.0, 1.0)
        if self.near_duplicate == 0:
            raise BenchError("option near_duplicate=0 would remove every description; "
                             "use a Jaccard above 0 (0.8 default)")
        self.held_out = _number("held_out", held_out, 0.0, 1.0)
        if not 0 < self.held_out < 1:
            raise BenchError(f"option held_out={held_out!r} must be a share between 0 and 1 (0.1: 10% held out)")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BenchError(f"option seed={seed!r} must be an integer")
        self.seed = seed
        if str(classifier) not in classifiers.CLASSIFIERS:
            raise unknown_name("classifier", str(classifier), classifiers.CLASSIFIERS)
        self.classifier = str(classifier)
        self.dump = Path(str(dump)).expanduser() if dump is not None else None
        if self.dump is not None and not self.dump.is_file():
            raise BenchError(f"option dump={dump}: no such file; pass a JSON-lines dump of Freesound search results")
        self.clotho_dir = Path(str(clotho_dir)).expanduser() if clotho_dir is not None else None
        if self.clotho_dir is not None and not self.clotho_dir.is_dir():
            raise BenchError(f"option clotho_dir={clotho_dir}: no such directory; pass the folder holding a Clotho "
                             "release's CSVs, or leave it out to fetch them")
        self.harvest_options = None
        if self.dump is None:
            from .harvest import HarvestOptions

            # The token is asked for only when a page must be fetched: a finished harvest needs none.
            self.harvest_options = HarvestOptions(queries=(str(query),), max_requests=max_requests,
                                                  per_minute=per_minute)

    # -- steps ---------------------------------------------------------------------------
    def _clotho(self, ctx: MineContext) -> ClothoText:
        directory = self.clotho_dir or fetch_clotho(ctx.data_root / CLOTHO_FOLDER)
        return read_clotho(directory)

    def _records(self, ctx: MineContext) -> tuple[list[dict], dict[str, object]] | None:
        """The harvest records, and where they came from; None when the harvest paused."""
        from .harvest import harvest, read_dump, records

        if self.dump is not None:
            found, malformed = read_dump(self.dump, ctx.log)
            return found, {"dump": str(self.dump), "malformed_lines": malformed}
        directory = ctx.output / "harvest"
        state = harvest(self.harvest_options, directory, ctx.log)
        if not state.complete:
            return None
        return list(records(directory, self.harvest_options)), {"harvest": str(directory), "pages": state.pages}

    def _score(self, ctx: MineContext, texts: list[str], positives: list[str]) -> Scored:
        """Train the classifier on ``texts`` (0) and ``positives`` (1) and score ``texts``;
        reused from ``ctx.output`` when the same inputs and settings trained it before."""
        model = classifiers.make(self.classifier, ctx.device, self.seed)
        key = stable_hash({"freesound": _digest(texts), "clotho": _digest(positives), "classifier": model.settings(),
                           "held_out": self.held_out, "seed": self.seed}, 24)
        training = classifiers.load(model, key, ctx.output / CLASSIFIER_FILE)
        if training is not None:
            try:
                with np.load(ctx.output / SCORES_FILE, allow_pickle=False) as stored:
                    if str(stored["key"]) == key and len(stored["scores"]) == len(texts):
                        ctx.log(f"classifier {self.classifier}: reusing the one trained on these texts "
                                f"(held-out ROC AUC {training.auc:.4f}) and its scores")
                        scores = dict(zip(texts, stored["scores"].tolist()))
                        return Scored(scores, model.settings(), training, True, {})
            except (OSError, ValueError, KeyError, EOFError):
                pass
        started = time.perf_counter()
        features = classifiers.featurise(model, [*texts, *positives], ctx.log)
        featurised = time.perf_counter()
        labels = np.concatenate([np.zeros(len(texts), dtype=np.int64), np.ones(len(positives), dtype=np.int64)])
        ctx.log(f"classifier {self.classifier}: training on {len(labels):,} texts, {self.held_out:.0%} held out")
        training = classifiers.train(model, features, labels, self.held_out, self.seed)
        trained = time.perf_counter()
        scores = model.score(features[: len(texts)])
        scored = time.perf_counter()
        classifiers.save(model, training, key, ctx.output / CLASSIFIER_FILE)
        with atomic_path(ctx.output / SCORES_FILE) as tmp:
            np.savez(tmp, key=np.array(key), scores=scores)
        seconds = {"featurise": featurised - started, "train": trained - featurised, "score": scored - trained}
        seconds = {k: round(v, 2) for k, v in seconds.items()}
        return Scored(dict(zip(texts, scores.tolist())), model.settings(), training, False, seconds)

    def _filter(self, records: list[dict], clotho: ClothoText, scores: dict[str, float], steps: Steps) -> list[dict]:
        """Step 4: the records kept after the threshold, the durations, Clotho's sounds, its
        evaluation captions and repeats, sorted by id; each filter counted in ``steps``."""
        records = [r for r in records if scores[r["description"].strip()] > self.threshold]
        steps.keep("threshold", records)
        records = [r for r in records if self.min_seconds <= r["duration"] <= self.max_seconds]
        steps.keep("duration", records)
        records = [r for r in records if r["id"] not in clotho.sound_ids]
        steps.keep("clotho_sound", records)
        index = CaptionIndex(clotho.evaluation, self.near_duplicate)
        records = [r for r in records if not index.near(r["description"])]
        steps.keep("evaluation_caption", records)
        seen: set[str] = set()
        unique = []
        for record in sorted(records, key=lambda r: r["id"]):
            text = normalise(record["description"])
            if text not in seen:
                seen.add(text)
                unique.append(record)
        steps.keep("duplicate", unique)
        return unique

    def run(self, ctx: MineContext) -> list[str]:
        """Every step, then the manifest and the reports; the lines ``bench mine`` prints."""
        clotho = self._clotho(ctx)
        got = self._records(ctx)
        if got is None:
            return [f"the Freesound harvest in {ctx.output / 'harvest'} is not complete; run the same command again "
                    "to continue it (nothing was mined yet)"]
        records, source = got
        steps = Steps(len(records))
        records = [r for r in records if r["description"].strip()]
        steps.keep("empty", records)
        records = [r for r in records if is_english(r["description"])]
        steps.keep("not_english", records)
        scored = self._score(ctx, list(dict.fromkeys(r["description"].strip() for r in records)), clotho.development)
        kept = self._filter(records, clotho, scored.scores, steps)
        manifest = [manifest_entry(r, scored.scores[r["description"].strip()]) for r in kept]
        report = {
            "miner": "freesound",
            "source": source,
            "clotho": {"files": clotho.files, "missing": clotho.missing, "sound_ids": len(clotho.sound_ids),
                       "development_captions": len(clotho.development), "evaluation_captions": len(clotho.evaluation)},
            "classifier": {**scored.settings, **scored.training.as_dict(), "reused": scored.reused,
                           "seconds": scored.seconds},
            "threshold": self.threshold,
            "duration": {"min_seconds": self.min_seconds, "max_seconds": self.max_seconds},
            "near_duplicate": self.near_duplicate,
            "held_out": self.held_out,
            "seed": self.seed,
            "steps": steps.rows,
            "kept": len(manifest),
        }
        write_outputs(ctx.output, manifest, report)
        training = scored.training
        lines = [
            f"{_source_line(source)}: {steps.rows[0]['left']:,} sounds; kept {len(manifest):,} "
            f"(score > {self.threshold:g}, {self.min_seconds:g} to {self.max_seconds:g} s, no Clotho sound or "
            "evaluation caption, each description once)",
            f"classifier {self.classifier}: held-out ROC AUC {training.auc:.4f} ({training.held_out['freesound']:,} "
            f"Freesound + {training.held_out['clotho']:,} Clotho texts held out){' (reused)' if scored.reused else ''}",
            f"wrote {ctx.output / MANIFEST} and {ctx.output / REPORT_MD}",
        ]
        if clotho.missing:
            lines.append(f"note: no Clotho metadata of {', '.join(clotho.missing)} was given (checked by md5); "
                         "sound ids listed only there are not excluded")
        return lines


def write_outputs(output: Path, manifest: list[dict], report: dict) -> None:
    """``manifest.jsonl``, ``report.json`` and ``report.md``, each written whole."""
    with atomic_path(output / MANIFEST) as tmp:
        with tmp.open("w", encoding="utf-8") as handle:
            for entry in manifest:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    write_json(output / REPORT_JSON, report)
    top = sorted(manifest, key=lambda e: -e["score"])[:10]
    write_text(output / REPORT_MD, _markdown({**report, "source": _source_line(report["source"])}, top))


def _source_line(source: dict[str, object]) -> str:
    return f"dump {source['dump']}" if "dump" in source else f"harvest {source['harvest']}"


def manifest_entry(record: dict, score: float) -> dict[str, object]:
    """A kept sound in the shared manifest format."""
    previews = record.get("previews") or {}
    preview = next((previews[k] for k in PREVIEWS if previews.get(k)), next(iter(previews.values()), ""))
    author = record["username"]
    return {"id": record["id"], "description": record["description"].strip(), "score": round(float(score), 6),
            "duration": record["duration"], "license": record["license"], "author": author, "preview": preview,
            "url": f"https://freesound.org/people/{author}/sounds/{record['id']}/"}

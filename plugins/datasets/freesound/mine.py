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

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from benchmark.api import BenchError, MineContext, atomic_path, stable_hash, unknown_name, write_json, write_text

from . import classifier as classifiers
from .clotho_text import ClothoText, fetch_clotho, read_clotho
from .filters import CaptionIndex, is_english, normalise

MANIFEST, REPORT_JSON, REPORT_MD = "manifest.jsonl", "report.json", "report.md"
CLASSIFIER_FILE, SCORES_FILE = "classifier.npz", "scores.npz"
#: Where the Clotho CSVs are fetched to, under the data root, one folder per release.
CLOTHO_FOLDER = "clotho_csv"
#: Preview URLs in order of preference: the manifest names the first a record has.
PREVIEWS = ("preview-hq-ogg", "preview-lq-ogg", "preview-hq-mp3", "preview-lq-mp3")

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

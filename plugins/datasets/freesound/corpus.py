"""A generated stand-in for Freesound descriptions and Clotho captions, for tests, the
scoring benchmark and trying ``bench mine freesound`` with no network.

Neither real Freesound descriptions nor Clotho captions can be had offline, so this module
writes text with the make-up of both, seeded and sized by argument:

- Clotho-like captions: one sentence of 8 to 20 words describing sounds and what makes
  them ("A dog barks while cars pass by on a wet road"), five per clip, for the
  development and evaluation splits.
- Freesound-like harvest records (the shared harvest format) whose descriptions are, in the
  shares of :data:`KINDS`: technical recording notes, tag lists, equipment and sample-rate
  lines, file names, sound-design notes, caption-like sentences (the same grammar as the
  captions: the descriptions the miner exists to find), longer first-person stories around
  such a sentence, non-English text (Spanish, French, German, Italian, Portuguese, Russian,
  Japanese) and empty descriptions. Durations are log-uniform from 0.2 s to 15 min.

It lives in the package, not under tests/, because the tests, ``benchmarks/freesound_scoring.py``
and a user trying the pipeline (``python -m bench_plugins.datasets.freesound.corpus DIR``)
all need the same corpus; it is never used by the miner itself.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmark.api import atomic_path

#: Kind of description → its share of the generated records.
KINDS: dict[str, float] = {
    "notes": 0.24,
    "tags": 0.20,
    "equipment": 0.10,
    "filename": 0.08,
    "design": 0.10,
    "caption": 0.04,
    "story": 0.04,
    "foreign": 0.12,
    "empty": 0.08,
}

_SOURCES = [
    ("a dog", ["barks", "is barking loudly", "growls and barks", "whines softly", "pants heavily"]),
    ("birds", ["chirp", "are singing", "tweet loudly", "call to each other", "flap their wings"]),
    ("a bird", ["sings", "chirps repeatedly", "calls out"]),
    ("a man", ["talks", "is speaking quietly", "coughs", "walks slowly", "whistles a tune", "clears his throat"]),
    ("a woman", ["speaks", "is laughing", "sings softly", "calls out a name"]),
    ("people", ["are talking", "chatter", "laugh together", "murmur quietly", "are walking around"]),
    ("rain", ["falls", "is pouring down", "patters", "drips steadily", "hits the ground"]),
    ("a car", ["drives by", "passes quickly", "honks its horn", "starts its engine", "speeds away"]),
    ("cars", ["pass by", "drive past", "are honking", "rush by"]),
    ("water", ["flows", "is running", "splashes", "drips", "trickles slowly", "gurgles"]),
    ("the wind", ["blows", "howls", "is blowing hard", "gusts"]),
    ("a door", ["creaks", "slams shut", "opens slowly", "squeaks open", "is knocked on"]),
    ("a bell", ["rings", "chimes", "tolls slowly"]),
    ("footsteps", ["crunch on gravel", "echo", "approach", "move across a wooden floor"]),
    ("a machine", ["hums", "whirrs", "rattles", "beeps repeatedly", "grinds loudly"]),
    ("a train", ["rumbles past", "passes", "blows its horn", "screeches to a stop"]),
    ("thunder", ["rumbles", "cracks loudly", "roars"]),
    ("a crowd", ["cheers", "applauds", "is chanting", "murmurs"]),
    ("a child", ["is crying", "laughs", "screams", "plays"]),
    ("an engine", ["idles", "revs up", "sputters", "roars to life"]),
    ("waves", ["crash on the shore", "break on the rocks", "wash in"]),
    ("a clock", ["ticks", "ticks steadily", "chimes the hour"]),
    ("someone", ["types on a keyboard", "is hammering", "chops wood", "rustles a plastic bag",
                 "pours water into a glass"]),
]
_PLACES = [
    "on a wet road", "in the distance", "in a busy street", "near a river", "inside a large room",
    "in a forest", "outside", "on a windy day", "at a train station", "in the background", "nearby",
    "in a quiet park", "on a city street", "in a small kitchen", "by the sea", "in an empty hall",
    "under a bridge", "at night", "in the rain", "on a farm",
]
_ADVERBS = ["loudly", "softly", "repeatedly", "constantly", "slowly", "quickly", "occasionally"]
_TEMPLATES = [
    "{s1} {v1} {p}",
    "{s1} {v1} while {s2} {v2} {p}",
    "{s1} {v1} and {s2} {v2} in the background",
    "{s1} {v1} {a} as {s2} {v2} {p}",
    "{s1} {v1} {p} and then {s2} {v2}",
    "while {s2} {v2}, {s1} {v1} {p}",
]

_RECORDERS = ["Zoom H4n", "Zoom H6", "Tascam DR-40", "Tascam DR-05", "Sony PCM-D100", "Roland R-05", "Marantz PMD661",
              "an iPhone", "a Sound Devices MixPre-3"]
_MICS = ["Rode NT5", "Rode NTG2", "Sennheiser MKH 416", "Audio-Technica AT4053b", "a pair of Line Audio CM3",
         "the built-in mics", "Clippy EM172", "Oktava MK-012"]
_PROCESSING = ["Normalized, no other processing.", "Slight EQ and noise reduction applied.", "No processing.",
               "Trimmed and faded in and out.", "Compressed and limited to -1 dB.", "High-pass filtered at 80 Hz."]
_CREDITS = ["Please credit me if you use it.", "Free to use, attribution appreciated.", "Check out my other sounds!",
            "Part of my field recording pack.", "Let me know if you use this in a project.", ""]
_CITIES = ["Berlin", "Lisbon", "Tokyo", "Montreal", "Helsinki", "Madrid", "Glasgow", "Prague", "Melbourne"]
_TAGS = ["ambience", "ambient", "field-recording", "dog", "bark", "animal", "rain", "water", "city", "urban",
         "traffic", "car", "door", "creak", "wood", "metal", "impact", "hit", "foley", "synth", "pad", "loop",
         "drum", "kick", "snare", "bass", "noise", "glitch", "electronic", "voice", "talk", "crowd", "birds",
         "nature", "forest", "wind", "storm", "thunder", "machine", "industrial", "hum", "click", "beep", "ui",
         "game", "sfx", "whoosh", "swoosh", "zoom-h4n", "stereo", "mono", "44.1khz", "48khz", "24bit"]
_DESIGN = [
    "A synth pad made in Serum with a slow attack, good for ambient music. {bpm} BPM, key of {key}.",
    "Kick drum sample, 909 style, processed through a tape saturator.",
    "Glitchy UI beep for games and apps, short and clean.",
    "Cinematic whoosh built from layered white noise and a pitch sweep.",
    "Bass loop at {bpm} BPM in {key}, made with a Moog Sub 37.",
    "Granular texture from a recording of a piano, stretched 400 percent in PaulStretch.",
    "Retro 8-bit jump sound effect for a platform game.",
    "Drone made with a modular synth, evolving slowly over time.",
]
_FOREIGN = [
    ("Grabación de {x} en la calle con un micrófono de la marca Zoom, por la noche.", ["lluvia", "tráfico", "pájaros"]),
    ("Un perro ladra mientras pasan los coches por una carretera {x}.", ["mojada", "estrecha", "vacía"]),
    ("Enregistrement de {x} dans la forêt près de chez moi, avec un Zoom H4n.", ["la pluie", "oiseaux", "vent"]),
    ("Le vent souffle et les oiseaux chantent dans {x} de ma maison.", ["le jardin", "la cour"]),
    ("Aufnahme von {x} im Wald mit einem Zoom H4n, ohne Bearbeitung und nicht normalisiert.", ["Regen", "Vögeln", "Wind"]),
    ("Die Tür knarrt und der Hund bellt in der {x}.", ["Nacht", "Küche"]),
    ("Registrazione di {x} nel bosco vicino a casa, con il registratore della Zoom.", ["pioggia", "uccelli", "vento"]),
    ("Gravação de {x} na rua perto da minha casa, com um gravador Tascam.", ["chuva", "trânsito", "pássaros"]),
    ("Запись {x} на улице, микрофон Rode NT5.", ["дождя", "ветра", "птиц"]),
    ("{x}の音を録音しました。マイクはZoom H4nです。", ["雨", "風", "鳥"]),
    ("Opname van {x} in het bos bij mijn huis met een Zoom recorder.", ["regen", "vogels", "wind"]),
]
_ASIDES = [
    "I used this recording for a short documentary about the harbour and thought others might find it useful.",
    "The file was cut from a longer session of about forty minutes; more parts will follow in the same pack.",
    "There is some handling noise near the start, which I left in because it is part of the moment.",
    "Recorded at dawn when the street was still quiet, before the first buses started running.",
]
_LICENSES = ["http://creativecommons.org/publicdomain/zero/1.0/", "https://creativecommons.org/licenses/by/4.0/",
             "http://creativecommons.org/licenses/by-nc/3.0/"]
_FILE_WORDS = ["door_close", "rain_on_window", "dog_bark", "footsteps_gravel", "kick", "whoosh", "city_amb", "hum"]


def caption(rng: random.Random) -> str:
    """One Clotho-like caption: one sentence of 8 to 20 words about sounds and what makes them."""
    while True:
        (s1, verbs1), (s2, verbs2) = rng.sample(_SOURCES, 2)
        text = rng.choice(_TEMPLATES).format(s1=s1, v1=rng.choice(verbs1), s2=s2, v2=rng.choice(verbs2),
                                              p=rng.choice(_PLACES), a=rng.choice(_ADVERBS))
        if 8 <= len(text.split()) <= 20:
            return text[0].upper() + text[1:] + rng.choice([".", ".", ".", ""])


def description(kind: str, rng: random.Random) -> str:
    """A Freesound-like description of ``kind`` (a key of :data:`KINDS`)."""
    if kind == "notes":
        rate = rng.choice(["44.1", "48", "96"])
        parts = [f"Recorded with {rng.choice(_RECORDERS)} and {rng.choice(_MICS)} "
                 f"at {rate} kHz / {rng.choice([16, 24])} bit.",
                 rng.choice(_PROCESSING), rng.choice(_CREDITS)]
        if rng.random() < 0.5:
            parts.insert(0, f"Field recording made in {rng.choice(_CITIES)} "
                            f"on {rng.randint(1, 28)}/{rng.randint(1, 12)}/20{rng.randint(10, 23)}.")
        if rng.random() < 0.4:  # the long tail of real descriptions: a paragraph of asides
            parts.extend(rng.sample(_ASIDES, rng.randint(1, len(_ASIDES))))
        return " ".join(p for p in parts if p)
    if kind == "tags":
        return rng.choice([" ", ", "]).join(rng.sample(_TAGS, rng.randint(3, 12)))
    if kind == "equipment":
        lines = [f"Mic: {rng.choice(_MICS)}", f"Recorder: {rng.choice(_RECORDERS)}",
                 f"Sample rate: {rng.choice(['44100', '48000', '96000'])} Hz", f"Bit depth: {rng.choice([16, 24, 32])}"]
        return "\n".join(rng.sample(lines, rng.randint(2, 4)))
    if kind == "filename":
        stem = rng.choice([f"{rng.choice(['STE', 'REC', 'ZOOM', 'DR'])}-{rng.randint(0, 999):03d}",
                           f"{rng.choice(_FILE_WORDS)}_{rng.randint(1, 30):02d}",
                           f"{rng.choice(_FILE_WORDS)}_v{rng.randint(1, 4)}_{rng.choice(['44k', '48k', '96k'])}"])
        return f"{stem}.{rng.choice(['wav', 'WAV', 'aif', 'flac', 'mp3'])}"
    if kind == "design":
        return rng.choice(_DESIGN).format(bpm=rng.randint(70, 175), key=rng.choice(["C minor", "A minor", "F major"]))
    if kind == "caption":
        return caption(rng)
    if kind == "story":
        sentence = caption(rng).rstrip(".")
        return (f"{rng.choice(['This is the sound of', 'Here you can hear', 'I recorded this when'])} "
                f"{sentence[0].lower() + sentence[1:]}. {rng.choice(_CREDITS)} {rng.choice(_PROCESSING)}").strip()
    if kind == "foreign":
        template, nouns = rng.choice(_FOREIGN)
        return template.format(x=rng.choice(nouns))
    if kind == "empty":
        return rng.choice(["", " ", "\n"])
    raise ValueError(f"unknown kind of description {kind!r}; known: {', '.join(KINDS)}")


@dataclass(frozen=True)
class Corpus:
    """Generated harvest records (with the kind of each description) and Clotho-like
    captions, five per clip, of a development and an evaluation split."""

    records: list[dict]
    kinds: list[str]
    development: list[list[str]]
    evaluation: list[list[str]]


def generate(descriptions: int, development: int = 800, evaluation: int = 200, seed: int = 0) -> Corpus:
    """``descriptions`` Freesound-like records and the captions of ``development`` and
    ``evaluation`` Clotho-like clips, all drawn from ``seed``."""
    rng = random.Random(seed)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=descriptions)
    ids = rng.sample(range(1, 10 * descriptions + 1_000_000), descriptions)
    records = []
    for sound_id, kind in zip(ids, kinds):
        user = rng.randint(1, max(descriptions // 20, 1))
        base = f"https://cdn.freesound.org/previews/{sound_id // 1000}/{sound_id}_{user}"
        records.append({
            "id": sound_id,
            "name": f"sound {sound_id}",
            "description": description(kind, rng),
            "tags": rng.sample(_TAGS, 3),
            "duration": round(0.2 * 4500 ** rng.random(), 3),  # log-uniform, 0.2 s to 15 min
            "license": rng.choice(_LICENSES),
            "username": f"user{user}",
            "previews": {"preview-hq-ogg": f"{base}-hq.ogg", "preview-lq-ogg": f"{base}-lq.ogg",
                         "preview-hq-mp3": f"{base}-hq.mp3", "preview-lq-mp3": f"{base}-lq.mp3"},
        })
    clips = [[caption(rng) for _ in range(5)] for _ in range(development + evaluation)]
    return Corpus(records, kinds, clips[:development], clips[development:])


def write_dump(records: list[dict], path: Path) -> Path:
    """Harvest records as a JSONL dump (one record per line), written whole."""
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_clotho_split(directory: Path, split: str, captions: list[list[str]], sound_ids: list[int | str]) -> None:
    """One split's ``clotho_captions_<split>.csv`` (UTF-8) and ``clotho_metadata_<split>.csv``
    (ISO-8859-1) in the official releases' columns; clip ``i`` comes from Freesound sound
    ``sound_ids[i]`` (or a text such as "Not found", as in some real rows)."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"{split} clip {i:05d}.wav" for i in range(len(sound_ids))]
    with (directory / f"clotho_captions_{split}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", *[f"caption_{k}" for k in range(1, 6)]])
        for name, five in zip(names, captions):
            writer.writerow([name, *five])
    with (directory / f"clotho_metadata_{split}.csv").open("w", newline="", encoding="iso-8859-1") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer",
                         "license"])
        for name, sound in zip(names, sound_ids):
            writer.writerow([name, "rain;street", sound, f"https://freesound.org/s/{sound}", "[0, 100]", "user",
                             "Attribution"])


def write_clotho(corpus: Corpus, directory: Path, first_id: int = 1) -> None:
    """The corpus's captions as a Clotho release's development and evaluation CSVs, with
    sound ids counting up from ``first_id`` (pick them outside the records' ids, or among
    them to plant a leak)."""
    write_clotho_split(directory, "development", corpus.development,
                       list(range(first_id, first_id + len(corpus.development))))
    start = first_id + len(corpus.development)
    write_clotho_split(directory, "evaluation", corpus.evaluation, list(range(start, start + len(corpus.evaluation))))


if __name__ == "__main__":  # python -m bench_plugins.datasets.freesound.corpus DIR [DESCRIPTIONS]
    out = Path(sys.argv[1])
    generated = generate(int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
    write_dump(generated.records, out / "dump.jsonl")
    write_clotho(generated, out / "clotho", first_id=10**9)
    print(f"wrote {out / 'dump.jsonl'} and {out / 'clotho'}; try: bench mine freesound "
          f"-O dump={out / 'dump.jsonl'} -O clotho_dir={out / 'clotho'} --output {out / 'mined'}")

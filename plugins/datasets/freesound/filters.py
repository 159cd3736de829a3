"""The miner's text filters: whether a description is English, and whether it is equal or
near to a Clotho evaluation caption (token sets compared by Jaccard similarity, through an
index so 500K descriptions are not compared with every caption)."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Iterable

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

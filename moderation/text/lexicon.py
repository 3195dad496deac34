"""Per-category term lists, matched on normalised prompts with Aho-Corasick and word boundaries.

The lists live in `moderation/data/lexicons.json` so that policy staff can read and extend them
without reading code. A term fires its category unless a harmless phrase of that category
contains it ("nude lipstick" does not fire "nude").
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ahocorasick

from moderation.text.normalise import normalise

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicons.json"
# Groups in the file that are cues, not categories.
CUE_GROUPS = ("minor_cues", "art_styles", "documentary_cues")
# "a 12 year old", "14yo", "15 y o": an age below 18 is a minor cue.
_MINOR_AGE = re.compile(r"\b(?:[1-9]|1[0-7]) ?(?:year|yr)s? old\b|\b(?:[1-9]|1[0-7]) ?y ?o\b")


@dataclass(frozen=True)
class LexiconHits:
    categories: dict[str, list[str]]  # category -> terms found (for staff records only)
    minor_cue: bool
    art_style: bool
    documentary: bool = False  # "security camera photo", "news photo": framed as a real event


class Lexicon:
    def __init__(self, data: dict) -> None:
        self._terms = ahocorasick.Automaton()
        self._harmless = ahocorasick.Automaton()
        groups = {name: value for name, value in data.items() if not name.startswith("_")}
        for group, value in groups.items():
            terms = value if group in CUE_GROUPS else value.get("terms", [])
            for term in terms:
                for form in _forms(normalise(term)):
                    self._add(self._terms, form, group)
            if group not in CUE_GROUPS:
                for phrase in value.get("harmless", []):
                    self._add(self._harmless, normalise(phrase), group)
        self.categories = sorted(g for g in groups if g not in CUE_GROUPS)
        self._terms.make_automaton()
        self._harmless.make_automaton()

    @staticmethod
    def _add(automaton: ahocorasick.Automaton, key: str, group: str) -> None:
        if not key:
            return
        groups = automaton.get(key, (key, set()))[1]
        groups.add(group)
        automaton.add_word(key, (key, groups))

    def scan(self, text: str) -> LexiconHits:
        harmless: list[tuple[int, int, set[str]]] = []
        if len(self._harmless):
            for end, (phrase, groups) in self._harmless.iter(text):
                start = end - len(phrase) + 1
                if _on_boundaries(text, start, end):
                    harmless.append((start, end, groups))
        found: dict[str, list[str]] = {}
        for end, (term, groups) in self._terms.iter(text):
            start = end - len(term) + 1
            if not _on_boundaries(text, start, end):
                continue
            for group in groups:
                if any(group in g and s <= start and end <= e for s, e, g in harmless):
                    continue
                found.setdefault(group, []).append(term)
        minor = bool(found.pop("minor_cues", None)) or bool(_MINOR_AGE.search(text))
        art = bool(found.pop("art_styles", None))
        documentary = bool(found.pop("documentary_cues", None)) and not art
        return LexiconHits(
            categories=found, minor_cue=minor, art_style=art, documentary=documentary
        )


def _forms(term: str) -> list[str]:
    if not term or " " in term or term[-1].isdigit():
        return [term]
    return [term, term + "s", term + "es"]


def _on_boundaries(text: str, start: int, end: int) -> bool:
    return (start == 0 or text[start - 1] == " ") and (end == len(text) - 1 or text[end + 1] == " ")


@cache
def lexicon() -> Lexicon:
    """The lexicon from the data file, loaded once per process."""
    return Lexicon(json.loads(LEXICON_PATH.read_text(encoding="utf-8")))

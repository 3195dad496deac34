"""A prompt that describes a registered figure precisely enough names them.

"the 45th president of the United States golfing", "the current King of England", "the
founder of SpaceX and Tesla": no name, but one person. Each registry entry may carry short
roles ("45th president of the United States", "King of the United Kingdom", "founder of
SpaceX"); a phrase of the prompt close enough in meaning to one of them counts as the name.

How, cheaply:
1. Candidates: only roles sharing a content word with the prompt ("king", "spacex",
   "president"), through a word index; most prompts share none and cost nothing more.
2. Phrases: spans of the prompt around those words that start and end on a content word (or an
   ordinal), do not cross a verb or a preposition that ends a description ("golfing", "with",
   "at"), and have two content words or more unless the role has one ("the Pope").
3. Meaning: each phrase's vector is pooled from the token states of the prompt's own forward
   pass through the sentence model (`Encoded.phrase_vector`), so no second pass is needed;
   role vectors are computed once when the index is built. The best cosine similarity must
   reach the threshold, which is measured on the labelled set (`bench/moderation_quality.py`).
4. Guards: numbers must agree ("46th president" is not the 45th), and a phrase whose content
   words are all generic ("a king", "the ceo of a startup") is too vague to name anyone.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from moderation.text.figures import RegistryEntry
from moderation.text.normalise import normalise
from moderation.text.semantic import EMBEDDING_SIZE, Encoded, SentenceEncoder

# Measured on the labelled set: describing phrases score 0.80-0.88 against their role;
# the closest harmless phrase ("the king of the jungle", "the ceo of a startup") 0.70-0.75.
DEFAULT_THRESHOLD = 0.78
MAX_PHRASE_WORDS = 8
# Words that neither start nor end a describing phrase, and carry no identity on their own.
STOPWORDS = {
    "a", "an", "the", "of", "and", "or", "in", "to", "for", "from", "by", "this", "that", "his",
    "her", "its", "their", "our", "my", "your", "who", "which", "is", "was", "as", "s",
}  # fmt: skip
# Words a description never runs through: what comes after them is the scene, not the person.
BREAK_WORDS = {
    "with", "at", "on", "wearing", "holding", "while", "during", "near", "beside", "under",
    "over", "riding", "eating", "drinking", "walking", "standing", "sitting", "smiling",
    "giving", "playing", "photo", "picture", "portrait", "image", "painting", "realistic",
    "photorealistic", "style",
}  # fmt: skip
# Content words too common to make a role a candidate on their own.
GENERIC_WORDS = {
    "man", "woman", "person", "people", "first", "former", "current", "late", "world", "new",
    "united", "states", "state", "country", "national", "american", "great", "famous", "big",
}  # fmt: skip
_NUMBER = re.compile(r"^\d+(st|nd|rd|th)?$")
_ORDINAL_WORDS = {"first", "second", "third", "fourth", "fifth", "last"}


@dataclass(frozen=True)
class DescriptionMatch:
    figure_id: int
    name: str
    role: str  # the registry's role that the prompt described (staff records only)
    phrase: str  # the words of the prompt that described it
    similarity: float


def _content_words(words: Iterable[str]) -> list[str]:
    return [word for word in words if word not in STOPWORDS]


def _numbers(words: Iterable[str]) -> frozenset[str]:
    found = set()
    for word in words:
        if _NUMBER.match(word):
            found.add(re.sub(r"(st|nd|rd|th)$", "", word))
        elif word in _ORDINAL_WORDS:
            found.add(word)
    return frozenset(found)


@dataclass(frozen=True)
class _Role:
    figure_id: int
    name: str
    text: str
    content: int  # how many content words
    numbers: frozenset[str]


class DescriptionIndex:
    """The roles of a registry, their vectors, and a word index to find candidates."""

    def __init__(self, entries: Iterable[RegistryEntry], *, encoder: SentenceEncoder) -> None:
        self._roles: list[_Role] = []
        self._by_word: dict[str, list[int]] = {}
        texts: list[str] = []
        for entry in entries:
            for raw in entry.roles:
                text = normalise(raw)
                if not text:
                    continue
                words = text.split()
                index = len(self._roles)
                self._roles.append(
                    _Role(
                        entry.figure_id,
                        entry.name,
                        text,
                        len(_content_words(words)),
                        _numbers(words),
                    )
                )
                texts.append(text)
                for word in set(_content_words(words)) - GENERIC_WORDS:
                    if not _NUMBER.match(word):
                        self._by_word.setdefault(word, []).append(index)
        self._matrix = (
            encoder.vectors(texts) if texts else np.zeros((0, EMBEDDING_SIZE), np.float32)
        )

    def __len__(self) -> int:
        return len(self._roles)

    def find(
        self, text: str, encoded: Encoded, *, threshold: float = DEFAULT_THRESHOLD
    ) -> DescriptionMatch | None:
        """The figure the prompt `text` (normalised, as encoded) describes, if any."""
        if not self._roles or not text:
            return None
        words = text.split()
        cues = [i for i, word in enumerate(words) if word in self._by_word]
        if not cues:
            return None
        candidates = sorted({role for i in cues for role in self._by_word[words[i]]})
        matrix = self._matrix[candidates]
        best: DescriptionMatch | None = None
        for first, last in _phrases(words, cues):
            vector = encoded.phrase_vector(first, last)
            if vector is None:
                continue
            phrase_words = words[first : last + 1]
            content = len(_content_words(phrase_words))
            numbers = _numbers(phrase_words)
            similarities = matrix @ vector
            for position in np.argsort(-similarities)[:3]:
                role = self._roles[candidates[int(position)]]
                similarity = float(similarities[position])
                if similarity < threshold or (best and similarity <= best.similarity):
                    break
                if content < min(2, role.content) or numbers != role.numbers:
                    continue
                if not set(_content_words(phrase_words)) - GENERIC_WORDS - {"of"}:
                    continue
                best = DescriptionMatch(
                    role.figure_id, role.name, role.text, " ".join(phrase_words), similarity
                )
                break
        return best


def _breaks(word: str) -> bool:
    # A verb in -ing ("golfing", "dancing") ends a description; "king" and "viking" do not.
    return word in BREAK_WORDS or (len(word) > 6 and word.endswith("ing"))


def _phrases(words: list[str], cues: list[int]) -> list[tuple[int, int]]:
    """(first, last) word spans around each cue that could be a description."""
    spans: set[tuple[int, int]] = set()
    for cue in cues:
        for first in range(max(0, cue - 3), cue + 1):
            if words[first] in STOPWORDS or any(_breaks(w) for w in words[first:cue]):
                continue
            for last in range(cue, min(len(words), first + MAX_PHRASE_WORDS)):
                if _breaks(words[last]):
                    break
                if words[last] not in STOPWORDS:
                    spans.add((first, last))
    return sorted(spans)

"""Find the names of registered public figures in the normalised readings of a prompt.

The ways a name is found, cheapest first (an exact name in any reading wins):
1. Exactly, with Aho-Corasick over every name and alias (one pass over the prompt whatever the
   size of the registry). Keys are stored padded with spaces, so only whole-word hits reach
   Python. Multi-word names are also indexed with their spaces removed, so "T-a-y-l-o-r
   S_w_i_f_t" (rejoined by normalisation into "taylorswift") and "#TaylorSwift" are found.
   Names in other scripts are registry aliases transliterated the same way ("Дональд Трамп").
2. With a misspelling ("Tailor Swift", "Barak Obamma"): a symmetric-deletion index (SymSpell's
   idea), one edit, two on names of FUZZY_TWO_EDITS_LENGTH letters when a window word is no
   English word. Windows are only looked at around words that are in a name or are no English
   word, and only when their first or last letters are some name's at a nearby length.
3. One word of the name exact and the other within two edits ("Mark Zuckerebr").
4. By sound ("Taylor Sweeft", "Keanoo Rives", "Elon Muskk"): each word reduced to a consonant
   skeleton (`phonetic_key`); a window with the same skeletons is a candidate, confirmed when
   it starts with the same letter, has a word that is no English word ("and red" is not "Andy
   Reid") and is within a few edits of the name.
5. Ambiguous aliases ("Swift", "Bush", "Drake", "Madonna": a surname or single name that is
   also a common word) count only in a person context: right after "photo of" or a title
   ("president", "singer"), or right before "smiling", "'s face", "giving a speech". Never
   after an article ("a swift river"), never inside a known harmless phrase ("Madonna and
   child"), never when a plain noun follows ("Trump tower", "swift birds").
Aliases that open with a title ("President Xi", "Queen Bey") are matched exactly only: an edit
away they are ordinary phrases ("president of", "queen bee"). Harmless phrases suppress every
path. Descriptions ("the 45th president of the United States") are matched by
`moderation.text.descriptions`, which needs the sentence model.

The matcher is pure (no database): `moderation.text.registry` builds it from PublicFigure rows
and caches it per process; the benchmark builds it from synthetic names.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick
from rapidfuzz.distance import OSA

from moderation.text.normalise import key_readings, known_words, normalise

# Multi-word names whose letters (spaces removed) number at least this many get misspelling
# matching; shorter ones ("tim cook", "li na") are too close to ordinary words. From
# FUZZY_ANCHORED_MIN_LENGTH ("lady gaga") a misspelling counts only when one word of the
# name is spelt exactly ("ledy gaga").
FUZZY_MIN_LENGTH = 9
FUZZY_ANCHORED_MIN_LENGTH = 8
# At this length two edits are tolerated ("barak obamma", "taylor sweeft").
FUZZY_TWO_EDITS_LENGTH = 10
# Names whose compact form has at least this many letters get a phonetic key ("elon musk").
PHONETIC_MIN_LENGTH = 8
# A phonetic key with fewer consonants than this is too common to be evidence of a name.
PHONETIC_MIN_CONSONANTS = 4
# Same skeleton, so the letters may differ more: vowels respelt ("keanoo rives"), doubled.
PHONETIC_EXTRA_EDITS = 1
# Aliases that open with a title ("President Xi", "Queen Bey") match exactly only: one edit
# away they are ordinary phrases ("president of", "queen bee"). A figure's own name is
# matched fuzzily whatever its first word ("Lady Gaga").
TITLE_WORDS = {
    "president", "vice", "prime", "minister", "king", "queen", "prince", "princess", "lady",
    "lord", "sir", "dame", "pope", "saint", "mr", "mrs", "ms", "dr", "the", "senator",
    "governor", "chancellor", "general", "chairman", "sheikh", "emperor", "empress", "duke",
    "duchess", "ayatollah", "imam", "rabbi", "father", "mother", "uncle", "aunt", "big",
}  # fmt: skip
# With one word of a name spelt exactly, the other may carry two edits of any kind
# ("mark zuckerebr", "kim kadrsahian"); candidates come from the exact word, so this costs a
# few distance checks. A word shared by more names than this is too common to anchor on
# without its first letter also matching.
ANCHOR_CANDIDATES_UNFILTERED = 32
# A one-word name ("Beyonce", "Rihanna") gets misspelling matching from this length, one edit
# only: shorter ones sit one letter from ordinary words ("Macron"/"macaron", "Anitta"/"Anita").
FUZZY_SINGLE_MIN_LENGTH = 7
# How many first and last letters the misspelling pre-filter compares: four, or three for
# windows under FUZZY_FILTER_LONG letters (so an edit in the middle of "beyonse" still has
# one end intact).
FUZZY_FILTER_LETTERS = 4
FUZZY_FILTER_LONG = 9
# Compact (spaces removed) forms of multi-word names are indexed from this length.
COMPACT_MIN_LENGTH = 8

# Phrases in which a registered name is not a person. Matched on the normalised prompt; any
# name hit inside one is ignored.
HARMLESS_PHRASES = [
    "madonna and child",
    "madonna with child",
    "madonna of the",
    "sistine madonna",
    "madonna lily",
    "black madonna",
    "virgin madonna",
    "madonna della",
    "swift river",
    "swift current",
    "swift fox",
    "swift bird",
    "swift birds",
    "swift boat",
    "chimney swift",
    "common swift",
    "swift programming",
    "swift code",
    "swift language",
    "suzuki swift",
    "jonathan swift",
    "burning bush",
    "rose bush",
    "bush baby",
    "bush fire",
    "bushfire",
    "in the bush",
    "jordan river",
    "river jordan",
    "air jordan",
    "air jordans",
    "jordan almonds",
    "trump card",
    "trump cards",
    "trump tower",
    "trumpet",
    "king charles spaniel",
    "cavalier king charles",
    "prince edward island",
    "drake duck",
    "mallard drake",
    "drake passage",
    "francis drake",
    "nick drake",
    "bee sting",
    "wasp sting",
    "sting ray",
    "stingray",
    "harp seal",
    "navy seal",
    "navy seals",
    "elephant seal",
    "wax seal",
    "seal of approval",
    "pro bono",
    "pink floyd",
    "pink panther",
    "pink flamingo",
    "pink flamingos",
    "moby dick",
    "grimes golden",
    "musk ox",
    "musk deer",
    "musk melon",
    "muskmelon",
    "gates of",
    "garden gates",
    "pearly gates",
    "golden gates",
    "bolt of lightning",
    "lightning bolt",
    "bolt cutter",
    "bolt cutters",
    "nut and bolt",
    "brady bunch",
    "sinner and saint",
    "saints and sinners",
    "serena van der woodsen",
    "snoop around",
    "adele blanc sec",
    "elon university",
]
# A harmless phrase suppresses only the hits it strictly contains: a full name in the list
# ("Greta Gerwig" beside the alias "Greta") would still be a name.

ARTICLES = {
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "some",
    "my",
    "your",
    "his",
    "her",
    "our",
    "their",
    "its",
    "every",
    "each",
    "any",
    "no",
    "one",
    "two",
    "three",
    "many",
    "several",
    "old",
    "young",
    "little",
    "big",
    "small",
    "wild",
    "fast",
    "quick",
}
# Words just before a name that mean "this is a person".
PERSON_BEFORE = {
    "president",
    "senator",
    "governor",
    "congressman",
    "congresswoman",
    "chancellor",
    "minister",
    "pm",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "sir",
    "dame",
    "lady",
    "lord",
    "singer",
    "rapper",
    "actor",
    "actress",
    "celebrity",
    "star",
    "popstar",
    "footballer",
    "player",
    "ceo",
    "billionaire",
    "candidate",
    "champion",
    "coach",
    "king",
    "queen",
    "prince",
    "princess",
    "pope",
    "politician",
    "musician",
    "comedian",
    "host",
    "athlete",
    "legend",
    "icon",
    "diva",
    "boxer",
    "golfer",
    "quarterback",
    "striker",
    "founder",
    "former",
    "ex",
    "donald",
    "george",
    "taylor",
    "michael",
    "tom",
    "elon",
    "bill",
}
# Depictions: "<word> of <name>" / "<word> with <name>".
DEPICTION_WORDS = {
    "photo",
    "photograph",
    "picture",
    "pic",
    "portrait",
    "image",
    "selfie",
    "headshot",
    "painting",
    "drawing",
    "sketch",
    "caricature",
    "render",
    "rendering",
    "deepfake",
    "likeness",
    "face",
    "statue",
    "bust",
    "poster",
    "meme",
    "video",
    "still",
    "snapshot",
    "close",
    "closeup",
    "cartoon",
    "illustration",
    "mugshot",
    "cosplay",
    "lookalike",
    "impression",
    "nude",
    "naked",
    "body",
}
LINK_WORDS = {
    "of",
    "with",
    "featuring",
    "starring",
    "showing",
    "depicting",
    "like",
    "as",
    "and",
    "meeting",
    "meets",
    "hugging",
    "kissing",
    "beside",
    "next",
    "versus",
    "vs",
}
# Words just after a name that mean "this is a person".
PERSON_AFTER = {
    "smiling",
    "smiles",
    "laughing",
    "laughs",
    "crying",
    "cries",
    "wearing",
    "wears",
    "speaking",
    "speaks",
    "giving",
    "gives",
    "singing",
    "sings",
    "performing",
    "performs",
    "posing",
    "poses",
    "waving",
    "waves",
    "hugging",
    "kissing",
    "holding",
    "signing",
    "voting",
    "campaigning",
    "naked",
    "nude",
    "topless",
    "shirtless",
    "arrested",
    "handcuffed",
    "face",
    "portrait",
    "selfie",
    "headshot",
    "caricature",
    "deepfake",
    "lookalike",
    "impersonator",
    "cosplay",
    "himself",
    "herself",
    "frowning",
    "yelling",
    "shouting",
    "punching",
    "celebrating",
    "inaugurated",
    "rally",
    "interview",
    "concert",
    "onstage",
    "mugshot",
    "smoking",
    "dunking",
    "dribbling",
    "scoring",
    "s",
    "in",
    "at",
    "on",
    "with",
    "and",
    "as",
}
# Two or three words after "in"/"at"/"on" that make the name a person: "Trump at a rally".
PERSON_NEAR_AFTER = {
    "rally",
    "podium",
    "press",
    "conference",
    "interview",
    "concert",
    "stage",
    "oval",
    "white",
    "carpet",
    "grammys",
    "oscars",
    "premiere",
    "debate",
    "campaign",
    "speech",
    "handcuffs",
    "prison",
    "jail",
    "court",
    "courtroom",
    "senate",
    "congress",
    "parliament",
    "summit",
    "stadium",
    "inauguration",
    "gala",
    "tuxedo",
    "suit",
}
# After a name, a word that keeps it a person only when a depiction or title came before:
# "photo of Trump in a suit" (person) versus "swift in flight" (no cue before: not a person).
WEAK_AFTER = {"in", "at", "on", "with", "and", "as"}


@dataclass(frozen=True)
class FigureMatch:
    figure_id: int
    name: str
    alias: str  # the normalised key that matched (kept for staff records, never shown to users)
    how: (
        str  # "exact", "compact", "context" (an ambiguous alias in a person context), "misspelling"
    )


@dataclass(frozen=True)
class _Key:
    figure_id: int
    name: str
    ambiguous: bool
    how: str


@dataclass(frozen=True)
class RegistryEntry:
    figure_id: int
    name: str
    aliases: tuple[str, ...] = ()
    ambiguous_aliases: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # read by moderation.text.descriptions, not by this matcher


class FigureMatcher:
    def __init__(self, entries: Iterable[RegistryEntry]) -> None:
        self._automaton = ahocorasick.Automaton()
        self._fuzzy_deletes: dict[str, list[int]] = {}
        self._fuzzy_targets: list[tuple[str, _Key]] = []
        self._phonetic: dict[str, list[int]] = {}
        # The first and last letters of every misspelling target: one edit leaves one of the
        # two intact, so a window with neither cannot match and skips the deletion lookups.
        # Each maps those letters to a bit mask of the targets' lengths: an edit changes a
        # length by one at most (two edits by two), so a window asks for the bits of nearby
        # lengths only. Two dictionary reads and a mask per window.
        self._fuzzy_heads: dict[str, int] = {}
        self._fuzzy_tails: dict[str, int] = {}
        self._name_words: set[str] = set()  # every word of a name with misspelling matching
        # An exact word of a multi-word name -> the fuzzy targets (by index) that contain it.
        self._anchors: dict[str, list[int]] = {}
        self.size = 0
        for entry in entries:
            self._add(entry)
            self.size += 1
        # Tuples of ints are left alone by the garbage collector (lists are tracked): with
        # 100,000 names that is over a million objects it no longer walks on every full
        # collection, and less memory.
        for index in (self._fuzzy_deletes, self._phonetic, self._anchors):
            for key, targets in index.items():
                index[key] = tuple(targets)  # type: ignore[assignment]
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()
        self._harmless = ahocorasick.Automaton()
        for phrase in HARMLESS_PHRASES:
            self._harmless.add_word(phrase, phrase)
        self._harmless.make_automaton()

    # -- building ---------------------------------------------------------------------------
    def _add(self, entry: RegistryEntry) -> None:
        ambiguous = {key for alias in entry.ambiguous_aliases for key in key_readings(alias)}
        plain = {key for name in (entry.name, *entry.aliases) for key in key_readings(name)}
        plain -= ambiguous
        own_names = key_readings(entry.name)
        for key in plain:
            self._put(key, _Key(entry.figure_id, entry.name, ambiguous=False, how="exact"))
            if key not in own_names and key.split()[0] in TITLE_WORDS:
                if " " in key and len(key.replace(" ", "")) >= COMPACT_MIN_LENGTH:
                    self._put(
                        key.replace(" ", ""),
                        _Key(entry.figure_id, entry.name, False, "compact"),
                    )
                continue
            if (
                " " not in key
                and len(key) >= FUZZY_SINGLE_MIN_LENGTH
                and key == normalise(entry.name)
            ):
                self._add_fuzzy(key, _Key(entry.figure_id, entry.name, False, "misspelling"))
            if " " in key:
                compact = key.replace(" ", "")
                if len(compact) >= COMPACT_MIN_LENGTH:
                    self._put(compact, _Key(entry.figure_id, entry.name, False, "compact"))
                if len(compact) >= FUZZY_MIN_LENGTH:
                    self._add_fuzzy(
                        compact, _Key(entry.figure_id, entry.name, False, "misspelling")
                    )
                    self._name_words.update(key.split())
                if len(compact) >= FUZZY_ANCHORED_MIN_LENGTH and key.isascii():
                    self._add_anchored(key, _Key(entry.figure_id, entry.name, False, "misspelling"))
                if len(compact) >= PHONETIC_MIN_LENGTH and key.isascii():
                    self._add_phonetic(key, _Key(entry.figure_id, entry.name, False, "phonetic"))
        for key in ambiguous:
            self._put(key, _Key(entry.figure_id, entry.name, ambiguous=True, how="context"))

    def _put(self, key: str, value: _Key) -> None:
        # Keys are stored with a space on each side and prompts searched as " prompt ", so
        # the automaton only reports whole-word hits: no Python work for "an" inside "plan".
        padded = f" {key} "
        existing = self._automaton.get(padded, None)
        # A key shared by two figures (two "Jordan"s): the unambiguous reading wins, then the
        # first registered.
        if existing is None or (existing[1].ambiguous and not value.ambiguous):
            self._automaton.add_word(padded, (key, value))

    def _add_fuzzy(self, compact: str, value: _Key) -> None:
        index = len(self._fuzzy_targets)
        self._fuzzy_targets.append((compact, value))
        bit = 1 << len(compact)
        for letters in (FUZZY_FILTER_LETTERS - 1, FUZZY_FILTER_LETTERS):
            head, tail = compact[:letters], compact[-letters:]
            self._fuzzy_heads[head] = self._fuzzy_heads.get(head, 0) | bit
            self._fuzzy_tails[tail] = self._fuzzy_tails.get(tail, 0) | bit
        for variant in (compact, *_deletes(compact)):
            self._fuzzy_deletes.setdefault(variant, []).append(index)

    def _add_anchored(self, key: str, value: _Key) -> None:
        words = key.split()
        if len(words) > 3:
            return
        index = len(self._fuzzy_targets)
        self._fuzzy_targets.append((key, value))  # with its spaces: words are compared
        for word in set(words):
            if len(word) >= 3:
                self._anchors.setdefault(word, []).append(index)

    def _add_phonetic(self, key: str, value: _Key) -> None:
        words = key.split()
        if len(words) > 3:
            return
        sound = " ".join(phonetic_key(word) for word in words)
        if len(sound.replace(" ", "")) < PHONETIC_MIN_CONSONANTS:
            return
        index = len(self._fuzzy_targets)
        self._fuzzy_targets.append((key.replace(" ", ""), value))
        self._phonetic.setdefault(sound, []).append(index)

    # -- matching ---------------------------------------------------------------------------
    def find(self, texts: Iterable[str]) -> FigureMatch | None:
        """The first figure named in any of the normalised readings of a prompt: an exact name
        in any reading first, then misspellings and sounds."""
        readings = [text for text in texts if text]
        if self._empty or not readings:
            return None
        for text in readings:
            match = self._find_exact(text)
            if match is not None:
                return match
        for text in readings:
            reading = _Reading(text, self._harmless_spans(text))
            match = self._find_misspelt(reading)
            # Both need a word outside the English vocabulary; most prompts have none.
            if match is None and any(reading.unknown):
                match = self._find_anchored(reading) or self._find_by_sound(reading)
            if match is not None:
                return match
        return None

    def _harmless_spans(self, text: str) -> list[tuple[int, int]]:
        return [(end - len(phrase) + 1, end) for end, phrase in self._harmless.iter(text)]

    def _find_exact(self, text: str) -> FigureMatch | None:
        harmless: list[tuple[int, int]] | None = None
        best: tuple[int, FigureMatch] | None = None
        for padded_end, (key, value) in self._automaton.iter(f" {text} "):
            # In " text ", the key ends one character before the trailing space it matched.
            end = padded_end - 2
            start = end - len(key) + 1
            if harmless is None:
                harmless = self._harmless_spans(text)
            if any(
                h_start <= start and end <= h_end and (h_end - h_start) > (end - start)
                for h_start, h_end in harmless
            ):
                continue
            if value.ambiguous and not _person_context(text, start, end):
                continue
            match = FigureMatch(value.figure_id, value.name, key, value.how)
            # Prefer the longest name found (a full name over a surname inside it).
            if best is None or len(key) > best[0]:
                best = (len(key), match)
        return best[1] if best else None

    def _find_misspelt(self, reading: "_Reading") -> FigureMatch | None:
        if not self._fuzzy_deletes:
            return None
        words = reading.words
        # A misspelt multi-word name keeps one of its words intact (one edit touches one
        # word), or has a word that is no English word ("nanccy peloi"): a window of plain
        # English words none of which is in a name ("photo of a") is skipped.
        # The same goes for one-word names: "beyonse" is no English word.
        worth = [
            position
            for position, (word, unknown) in enumerate(zip(words, reading.unknown, strict=True))
            if unknown or word in self._name_words
        ]
        if not worth:
            return None
        heads, tails = self._fuzzy_heads, self._fuzzy_tails
        for size in (2, 3, 1):
            shortest = FUZZY_SINGLE_MIN_LENGTH - 1 if size == 1 else FUZZY_MIN_LENGTH - 1
            last_first = len(words) - size
            firsts = sorted(
                {
                    first
                    for position in worth
                    for first in range(max(0, position - size + 1), min(position, last_first) + 1)
                }
            )
            for first in firsts:
                window = "".join(words[first : first + size])
                length = len(window)
                if length < shortest:
                    continue
                # The pre-filter (see __init__): one end of the window is a target's end.
                letters = FUZZY_FILTER_LETTERS - (length < FUZZY_FILTER_LONG)
                spread = 2 if length + 2 >= FUZZY_TWO_EDITS_LENGTH else 1
                nearby = ((1 << (2 * spread + 1)) - 1) << (length - spread)
                mask = heads.get(window[:letters], 0) | tails.get(window[-letters:], 0)
                if not mask & nearby:
                    continue
                if reading.in_harmless(first, size):
                    continue
                match = self._lookup_fuzzy(window, any(reading.unknown[first : first + size]))
                if match is not None:
                    return match
        return None

    def _find_anchored(self, reading: "_Reading") -> FigureMatch | None:
        """A window of 2-3 words with one word of a name spelt exactly and the rest of the
        name within two edits (one below FUZZY_TWO_EDITS_LENGTH letters)."""
        if not self._anchors:
            return None
        words = reading.words
        for position, word in enumerate(words):
            candidates = self._anchors.get(word)
            if not candidates:
                continue
            for size in (2, 3):
                for first in range(max(0, position - size + 1), position + 1):
                    if first + size > len(words) or not any(reading.unknown[first : first + size]):
                        continue
                    if reading.in_harmless(first, size):
                        continue
                    window_words = words[first : first + size]
                    window = "".join(window_words)
                    for index in candidates:
                        target, value = self._fuzzy_targets[index]
                        target_words = target.split()
                        if len(target_words) != size:
                            continue
                        if len(candidates) > ANCHOR_CANDIDATES_UNFILTERED and any(
                            a[0] != b[0] for a, b in zip(window_words, target_words, strict=True)
                        ):
                            continue
                        compact = "".join(target_words)
                        allowed = 2 if len(compact) >= FUZZY_TWO_EDITS_LENGTH else 1
                        if (
                            compact != window
                            and abs(len(compact) - len(window)) <= allowed
                            and _edit_distance(window, compact, limit=allowed) <= allowed
                        ):
                            return FigureMatch(value.figure_id, value.name, compact, "misspelling")
        return None

    def _find_by_sound(self, reading: "_Reading") -> FigureMatch | None:
        if not self._phonetic:
            return None
        words = reading.words
        sounds = [phonetic_key(word) for word in words]
        for size in (2, 3):
            for first in range(0, len(words) - size + 1):
                # "and red" sounds like "Andy Reid", but is plain English: one word must not be.
                if not any(reading.unknown[first : first + size]):
                    continue
                candidates = self._phonetic.get(" ".join(sounds[first : first + size]))
                if not candidates or reading.in_harmless(first, size):
                    continue
                window = "".join(words[first : first + size])
                for index in candidates:
                    target, value = self._fuzzy_targets[index]
                    allowed = (
                        2 if len(target) >= FUZZY_TWO_EDITS_LENGTH else 1
                    ) + PHONETIC_EXTRA_EDITS * (1 + len(target) // 8)
                    if (
                        window[0] == target[0]
                        and abs(len(target) - len(window)) <= allowed
                        and _edit_distance(window, target, limit=allowed) <= allowed
                    ):
                        return FigureMatch(value.figure_id, value.name, target, "phonetic")
        return None

    def _lookup_fuzzy(self, window: str, has_unknown: bool) -> FigureMatch | None:
        candidates: set[int] = set()
        deletes = self._fuzzy_deletes
        for variant in (window, *_deletes(window)):
            found = deletes.get(variant)
            if found:
                candidates.update(found)
        for index in sorted(candidates):
            target, value = self._fuzzy_targets[index]
            allowed = 2 if len(target) >= FUZZY_TWO_EDITS_LENGTH else 1
            if abs(len(target) - len(window)) > allowed:
                continue
            distance = _edit_distance(window, target, limit=allowed)
            # Two edits between plain English words is a different phrase, not a misspelling.
            if distance <= 1 or (distance <= allowed and has_unknown):
                return FigureMatch(value.figure_id, value.name, target, "misspelling")
        return None


class _Reading:
    """One normalised reading of a prompt, with what every fuzzy path asks of it."""

    __slots__ = ("text", "words", "unknown", "harmless", "_starts")

    def __init__(self, text: str, harmless: list[tuple[int, int]]) -> None:
        vocabulary = known_words()
        self.text = text
        self.words = text.split()
        self.unknown = [word not in vocabulary for word in self.words]
        self.harmless = harmless
        self._starts: list[int] | None = None

    def in_harmless(self, first: int, size: int) -> bool:
        """Do words first..first+size-1 lie inside a harmless phrase ("air jordan")?"""
        if not self.harmless:
            return False
        if self._starts is None:
            self._starts = _word_starts(self.words)
        start = self._starts[first]
        end = self._starts[first + size - 1] + len(self.words[first + size - 1]) - 1
        return any(h_start <= start and end <= h_end for h_start, h_end in self.harmless)


# Letter groups that sound alike, read before single letters.
_SOUND_GROUPS = (("sch", "s"), ("ph", "f"), ("ck", "k"), ("dg", "j"), ("gh", "g"))
_SOUND_LETTERS = str.maketrans({"q": "k", "z": "s", "v": "f", "x": "k"})
_SILENT = str.maketrans("", "", "aeiouyhw")


@lru_cache(maxsize=65536)
def phonetic_key(word: str) -> str:
    """A word's consonant skeleton: vowels, "h", "w" and "y" dropped, letters that sound alike
    merged, doubled letters collapsed. "sweeft" and "swift" -> "sft"; "obamma" -> "bm"."""
    for group, sound in _SOUND_GROUPS:
        word = word.replace(group, sound)
    # A "c" is read "k" everywhere: names are respelt with either ("Mercel", "Nanky").
    word = word.replace("c", "k").translate(_SOUND_LETTERS)
    skeleton = word.translate(_SILENT)
    return re.sub(r"(.)\1+", r"\1", skeleton)


def _word_starts(words: list[str]) -> list[int]:
    starts = [0]
    for word in words[:-1]:
        starts.append(starts[-1] + len(word) + 1)
    return starts


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _person_context(text: str, start: int, end: int) -> bool:
    before = text[:start].split()
    after = text[end + 1 :].split()
    previous = before[-1] if before else None
    following = after[0] if after else None
    if previous in ARTICLES:
        return False
    cue_before = previous in PERSON_BEFORE or (
        previous in LINK_WORDS
        and len(before) >= 2
        and (before[-2] in DEPICTION_WORDS or before[-2] in PERSON_AFTER)
    )
    if following is None:
        return cue_before
    if following == "s":
        # "Swift's face" normalises to "swift s face": the possessive needs a person word next.
        return len(after) >= 2 and (after[1] in DEPICTION_WORDS or after[1] in PERSON_AFTER)
    if following in WEAK_AFTER:
        return cue_before or any(word in PERSON_NEAR_AFTER for word in after[1:4])
    # Anything else after the name ("tower", "river", "birds") makes it a modifier.
    return following in PERSON_AFTER


def _edit_distance(first: str, second: str, *, limit: int) -> int:
    """Optimal-string-alignment distance (a transposition counts one), or `limit + 1` when it
    is over `limit` (rapidfuzz's C++ implementation: ~1 us where a Python loop took ~50)."""
    return int(OSA.distance(first, second, score_cutoff=limit))

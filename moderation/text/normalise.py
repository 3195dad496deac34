"""Normalisation that defeats cheap evasion before any matching.

Every matcher (public figures, lexicons) sees text in one canonical form: lower-case ASCII
letters, digits and single spaces. Registry names go through the same function, so a name and
a prompt that spells it with look-alike characters meet in the same form.

The steps, in order, and why that order:
1. NFKC folds compatibility forms (full-width "Ｔｒｕｍｐ", ligatures, superscripts) to plain ones.
2. Zero-width and control characters go: they split a word invisibly ("Tr\u200bump").
3. casefold, then Cyrillic and Greek look-alikes map to the Latin letter they imitate; this runs
   before accents are stripped so that "й" becomes "и" + breve and then "n"/"i" consistently.
4. Accents are stripped (NFD, drop combining marks), then the look-alike map runs once more for
   the bare letters that decomposition exposed.
5. Anything that is not a letter or digit becomes a space; runs of spaces collapse.
6. Leetspeak ("0bama", "3l0n") maps only inside words that mix letters and digits, so "2 cats"
   and "1920s" keep their digits.
7. Letters separated by spaces, dots, dashes or underscores ("T.r.u.m.p", "t r u m p") are
   rejoined when three or more single letters run together.
"""

import re
import unicodedata

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
# Three or more single letters/digits separated by single spaces: "t r u m p".
_SPACED_LETTERS = re.compile(r"(?<![a-z0-9])(?:[a-z0-9] ){2,}[a-z0-9](?![a-z0-9])")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _drop_controls(text: str) -> str:
    text = text.translate(_INVISIBLE)
    # Other format (Cf) and control (Cc) characters, but keep whitespace as whitespace.
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )


def _fold(text: str, *, leet: bytes | dict) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _drop_controls(text)
    text = text.casefold().translate(_HOMOGLYPHS)
    text = _strip_accents(text).translate(_HOMOGLYPHS)
    # Leet symbols are punctuation: map them inside words before punctuation turns to spaces.
    text = re.sub(
        r"\S+",
        lambda m: _map_leet_symbols(m.group(0), leet),
        text,
    )
    text = _NON_WORD.sub(" ", text)
    words = [_map_leet_digits(word, leet) for word in text.split()]
    text = " ".join(words)
    return _SPACED_LETTERS.sub(lambda m: m.group(0).replace(" ", ""), text)


def _map_leet_symbols(token: str, leet: bytes | dict) -> str:
    # "$" in "$100" is money and "@" alone is punctuation; only inside a word do they stand
    # for letters ("@ngelina", "ob@ma").
    if not any(symbol in token for symbol in _LEET_SYMBOLS):
        return token
    inner = re.sub(r"^[^\w]+|[^\w]+$", "", token)
    if not _HAS_LETTER.search(inner.casefold()):
        return token
    return token.replace(inner, inner.translate(leet).translate(_LEET))


def _map_leet_digits(word: str, leet: bytes | dict) -> str:
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
    return _fold(text, leet={}).strip()


def variants(text: str) -> list[str]:
    """The canonical form, plus the second leetspeak reading when it differs ("1" as "l")."""
    first = normalise(text)
    second = _fold(text, leet=_LEET_ALT).strip()
    return [first] if second == first else [first, second]

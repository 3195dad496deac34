"""Whole numbers typed by people: what a form field or a query parameter may hold.

`str.isdigit()` accepts "²" (which int() refuses) and any script's digits; a long string of
digits is a number no column holds. Views read numbers through here instead.
"""

import re

_WHOLE = re.compile(r"-?[0-9]{1,18}")  # fits a 64-bit column whatever the digits


def whole_number(text: str, *, minimum: int, maximum: int) -> int | None:
    """`text` (ASCII digits, an optional minus) as an int in [minimum, maximum]; else None."""
    text = text.strip()
    if not _WHOLE.fullmatch(text):
        return None
    number = int(text)
    return number if minimum <= number <= maximum else None

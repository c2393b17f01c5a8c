"""Human text in requests: names, single-line free text and multi-line free text, as pydantic types.

Every model field that takes text written by a person uses one of these, with its own `Field(max_length=…)`:

- `Name` — a holder's, department's, spouse's name, a label: one line, no control characters at all, and at
  least one visible character (a name made only of spaces, zero-width characters or Hangul fillers is blank).
- `Line` — single-line free text such as a purpose or a legal basis: the same rules as a name.
- `Text` — free text that may span lines (reasons, descriptions): tab, line feed and carriage return are
  allowed; other control characters are not. It may be empty unless the field says `min_length=1`.

All three strip surrounding whitespace and refuse the bidirectional embedding, override and isolate controls
U+202A–U+202E and U+2066–U+2069, which can make a name display as something else ("Trojan Source", CVE-2021-42574).
The same checks are available as functions (`check_name`, `check_line`, `check_text`) for text that is not
validated through a model, such as license data.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# C0, DEL and C1 (Unicode category Cc), the bidi controls, and the line/paragraph separators (which some
# renderers treat as line breaks) have no place in a one-line value.
_NOT_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NOT_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# Letters and symbols that render as nothing: Hangul fillers, the braille blank.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(value: str) -> bool:
    """Tell whether a character would show: a letter, number, punctuation or symbol that is not a blank one."""
    return any(unicodedata.category(c)[0] in "LNPS" and c not in _BLANK_LOOKING for c in value)


def _check(value: str, forbidden: re.Pattern[str], what: str) -> str:
    found = forbidden.search(value)
    if found is not None:
        if _BIDI.match(found.group()):
            raise ValueError(f"{what} must not contain bidirectional control characters (U+202A–U+202E, "
                             f"U+2066–U+2069); found U+{ord(found.group()):04X}")
        raise ValueError(f"{what} must not contain control characters; found U+{ord(found.group()):04X}")
    if value and not _visible(value):
        raise ValueError(f"{what} must contain a visible character")
    return value


def check_name(value: str) -> str:
    """Return a name unchanged if it is one visible line without control or bidi characters; raise ValueError."""
    return _check(value, _NOT_IN_LINE, "a name")


def check_line(value: str) -> str:
    """Return single-line text unchanged if it has no control or bidi characters; raise ValueError."""
    return _check(value, _NOT_IN_LINE, "the text")


def check_text(value: str) -> str:
    """Return multi-line text unchanged if it has no control characters beyond tab, LF and CR; raise ValueError."""
    return _check(value, _NOT_IN_TEXT, "the text")


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(check_name)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(check_line)]
Text = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(check_text)]

"""Complaint references: short, typeable over SMS, free of look-alike characters.

Eight characters from 25 (no 0/O, 1/I/L, 5/S, 2/Z, 8/B), shown as two groups of four:
`K7QD-4XMP`. 25**8 ≈ 1.5e11 values, so guessing one is impractical, and every reference
holds at least one digit so an ordinary word is never mistaken for one.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
DIGITS = frozenset("34679")
LENGTH = 8
_VALUES = len(ALPHABET) ** LENGTH

_CANDIDATE = re.compile(
    rf"(?<![0-9A-Z])([{ALPHABET}]{{4}})[ -]?([{ALPHABET}]{{4}})(?![0-9A-Z])", re.IGNORECASE
)


def new_reference() -> str:
    while True:
        # One draw of 25**8 values, written in base 25: as uniform as eight draws, and
        # one call to the system's random source instead of eight.
        number = secrets.randbelow(_VALUES)
        chars = []
        for _ in range(LENGTH):
            number, digit = divmod(number, len(ALPHABET))
            chars.append(ALPHABET[digit])
        raw = "".join(chars)
        if DIGITS.intersection(raw) and not DIGITS.issuperset(raw):
            return f"{raw[:4]}-{raw[4:]}"


def parse_reference(text: str) -> str | None:
    """The canonical form of a reference typed alone (any case, with or without the dash)."""
    cleaned = text.strip().upper()
    match = _CANDIDATE.fullmatch(cleaned)
    return _canonical(match) if match else None


def find_reference(text: str) -> str | None:
    """The first reference mentioned anywhere in `text`."""
    for match in _CANDIDATE.finditer(text.upper()):
        found = _canonical(match)
        if found:
            return found
    return None


def _canonical(match: re.Match[str]) -> str | None:
    raw = match.group(1) + match.group(2)
    if not DIGITS.intersection(raw):
        return None
    return f"{raw[:4]}-{raw[4:]}"

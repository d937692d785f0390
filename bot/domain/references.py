"""Complaint references: short, typeable over SMS, free of look-alike characters.

Eight characters from 25 (no 0/O, 1/I/L, 5/S, 2/Z, 8/B), shown as two groups of four:
`K7QD-4XMP`. 25**8 ≈ 1.5e11 values, so guessing one is impractical, and every reference
holds at least one digit so an ordinary word is never mistaken for one.
"""

from __future__ import annotations

import os
import re
import threading

ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
DIGITS = frozenset("34679")
LENGTH = 8

_CANDIDATE = re.compile(
    rf"(?<![0-9A-Z])([{ALPHABET}]{{4}})[ -]?([{ALPHABET}]{{4}})(?![0-9A-Z])", re.IGNORECASE
)


def new_reference() -> str:
    while True:
        raw = _RANDOM.characters(LENGTH)
        if DIGITS.intersection(raw) and not DIGITS.issuperset(raw):
            return f"{raw[:4]}-{raw[4:]}"


class _RandomCharacters:
    """Characters of ALPHABET drawn from the system's random source (as `secrets` draws),
    read a few kilobytes at a time: one system call per hundreds of references, not one
    each. A forked child reads afresh, never its parent's bytes."""

    _CHUNK = 4096
    # A byte below 250 is uniform over 250 values, so its value modulo 25 is uniform over
    # the alphabet; bytes 250-255 are dropped.
    _TABLE = bytes(ord(ALPHABET[value % len(ALPHABET)]) for value in range(250)) + bytes(6)
    _DROPPED = bytes(range(250, 256))

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._buffer = b""

    def characters(self, count: int) -> str:
        with self._lock:
            while len(self._buffer) < count:
                fresh = os.urandom(self._CHUNK).translate(self._TABLE, self._DROPPED)
                self._buffer += fresh
            taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken.decode("ascii")


_RANDOM = _RandomCharacters()


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
